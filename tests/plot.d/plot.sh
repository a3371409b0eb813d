#!/usr/bin/env bash
# tools/asim-plot on synthetic reports (make_reports.py): every expected PNG is written and is a
# real image of a sensible size; bad inputs give clear errors and the documented exit codes.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy, matplotlib' 2>/dev/null; then
  echo "SKIP: $PY lacks h5py/numpy/matplotlib (Debian: python3-h5py python3-numpy python3-matplotlib)"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

$PY "$SRC/tests/plot.d/make_reports.py" "$TMP/in" || { echo "FAIL: make_reports.py"; exit 1; }
PLOT="$SRC/tools/asim-plot"

# is_png FILE MIN_W MIN_H: a PNG of at least that size (pixels), not blank
is_png() {
  $PY - "$@" <<'PYEOF'
import sys
import matplotlib.image as mpimg
f, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f, "rb") as fh:
    assert fh.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG"
a = mpimg.imread(f)
assert a.shape[1] >= w and a.shape[0] >= h, "only %dx%d pixels" % (a.shape[1], a.shape[0])
assert a[..., :3].std() > 0.01, "blank image"
PYEOF
}

if ! out=$("$PLOT" "$TMP/in/plain.h5" "$TMP/in/sweep.h5" "$TMP/in/sweep_enum.h5" "$TMP/in/c100.h5" --history "$TMP/in/history.h5" \
  --history "$TMP/in/ckpt.h5" --out "$TMP/png" 2>&1); then
  bad "asim-plot failed:"; echo "$out"
fi
for f in plain_confusion plain_diagnostics sweep_sweep_asim_conv_adc_prec sweep_sweep_asim_conv_rand_noise_sigma \
  sweep_sweep_confusion sweep_diagnostics sweep_enum_sweep_asim_conv_mode sweep_enum_sweep_asim_conv_adc_prec \
  history_training ckpt_training c100_confusion; do
  if [ ! -f "$TMP/png/$f.png" ]; then bad "$f.png not written"; continue; fi
  if msg=$(is_png "$TMP/png/$f.png" 500 300 2>&1); then echo "ok   $f.png"; else bad "$f.png: $(echo "$msg" | tail -1)"; fi
done
n=$(ls "$TMP/png" | wc -l)
[ "$n" -eq 11 ] || bad "expected 11 PNGs, found $n: $(ls "$TMP/png")"

# default output folder: next to the input
cp "$TMP/in/plain.h5" "$TMP/r.h5"
"$PLOT" "$TMP/r.h5" >/dev/null 2>&1 && [ -f "$TMP/r_confusion.png" ] || bad "default --out (the input's folder)"
# a history given as a plain argument is recognised too
"$PLOT" "$TMP/in/history.h5" --out "$TMP/h" >/dev/null 2>&1 && [ -f "$TMP/h/history_training.png" ] ||
  bad "history.h5 as a positional argument"

# expect STATUS PATTERN ARGS...: exit status and a message matching PATTERN
expect() {
  local want=$1 pat=$2 out rc
  shift 2
  out=$("$PLOT" "$@" --out "$TMP/x" 2>&1)
  rc=$?
  if [ $rc -ne "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
    bad "asim-plot $*: status $rc (want $want), output: $out"
  else
    echo "ok   asim-plot $(sed "s|$TMP/||g" <<<"$*") -> status $rc: $(grep -m1 -o -- "$pat.*" <<<"$out" | cut -c1-70)"
  fi
}
expect 1 "nothing to plot" "$TMP/in/empty.h5"
expect 1 "cannot open" "$TMP/in/missing.h5"
echo "not hdf5" >"$TMP/text.h5"
expect 1 "cannot open" "$TMP/text.h5"
expect 1 "no training history" --history "$TMP/in/plain.h5"
expect 2 "usage" 
exit $fail
