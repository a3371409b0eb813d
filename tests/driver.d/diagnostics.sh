#!/usr/bin/env bash
# Per-layer diagnostics (report.diagnostics = true) in real asim-mpi runs: predictions and logits are
# identical with diagnostics on and off (noisy, lossy noise-free and lossless settings); a lossless
# configuration never clips and has no error (infinite SQNR, spec §3.8); a small noisy ADC clips;
# figures are consistent with the stored sums and lie in their ranges; a sweep has one row per point;
# /diagnostics is identical for -n 1, -n 2 and 2 threads; a run or sweep killed part way and resumed
# has the /diagnostics of an uninterrupted one; --dry-run output does not change.
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" 8 || exit 1
$BIN/asim-init ResNet-18 "$TMP/ck.h5" --classes 10 --size 8 || exit 1
TEST_BS=4
DIAG="--set report.diagnostics=true"

# check MODE REPORT [ARGS]: assertions on /diagnostics (exit status 1 with a message on failure)
check() {
  $PY - "$@" <<'PYEOF'
import sys
import h5py
import numpy as np
mode, path = sys.argv[1], sys.argv[2]
f = h5py.File(path, "r")
d = f["diagnostics"]
names = [x.decode() if isinstance(x, bytes) else str(x) for x in d["layer_names"][()]]
L = len(names)
def a(k): return np.asarray(d[k][()])
def need(cond, msg):
    if not cond:
        print("    %s: %s" % (path.split("/")[-1], msg)); sys.exit(1)
need(L == 20 and names[0] == "layer1.0.conv1" and names[-1] == "fc", "layer names %s" % names)
P = int(sys.argv[3]) if mode == "sweep" else 1
for k in ["clip_fraction", "mean_abs_err", "max_abs_err", "sqnr_db", "conversions", "clipped", "clipped_high",
          "clipped_low", "n_elements", "sum_sq_signal", "sum_sq_err", "sum_abs_err"]:
    need(a(k).shape == (P, L), "%s has shape %s, want %s" % (k, a(k).shape, (P, L)))
cf, conv, clip = a("clip_fraction"), a("conversions"), a("clipped")
need((conv > 0).all(), "a layer without conversions")
need((clip == a("clipped_high") + a("clipped_low")).all(), "clipped != high + low")
need(np.array_equal(cf, clip / conv), "clip_fraction != clipped / conversions")
need(((cf >= 0) & (cf <= 1)).all(), "clip_fraction outside [0, 1]")
need(np.allclose(a("mean_abs_err"), a("sum_abs_err") / a("n_elements"), rtol=1e-15), "mean_abs_err != sum / n")
need((a("max_abs_err") >= a("mean_abs_err")).all(), "max_abs_err < mean_abs_err")
err, sig = a("sum_sq_err"), a("sum_sq_signal")
with np.errstate(divide="ignore"):
    want = np.where(err == 0, np.inf, 10 * np.log10(sig / np.where(err == 0, 1, err)))
s = a("sqnr_db")
need(np.array_equal(np.isposinf(s), err == 0) and np.allclose(s[err > 0], want[err > 0], rtol=1e-13, atol=0),
     "sqnr_db != 10 log10(signal / error)")
N = f["samples/index"].shape[0]
need((a("n_elements")[:, 0] == N * (f["sweep"].attrs["repeats"] if "sweep" in f else 1) * 64 * 8 * 8).all(),
     "n_elements of layer1.0.conv1: %s" % a("n_elements")[:, 0])
for at in ["ideal", "clip", "sqnr_db"]:
    need(at in d.attrs, "attribute %s missing" % at)
if mode == "lossless":
    need((clip == 0).all(), "a lossless configuration clips: %s" % clip)
    need((a("sum_abs_err") == 0).all() and (a("max_abs_err") == 0).all(), "error in a lossless configuration")
    need(np.isposinf(a("sqnr_db")).all(), "SQNR not infinite: %s" % a("sqnr_db"))
elif mode == "lossy":  # noise-free: the ADC rounds but never clips
    need((clip == 0).all(), "a noise-free configuration clips")
    need((a("sum_abs_err") > 0).all() and np.isfinite(a("sqnr_db")).all(), "no error with a 4-bit ADC")
elif mode == "noisy":
    need((clip[0, :19] > 0).sum() >= 15, "noisy 4-bit conv layers without clipping: %s" % clip)
    need((a("sum_abs_err")[0, :19] > 0).all(), "noisy layers without error")
elif mode == "sweep":  # points (adc 4, 8) x (sigma 0, 2): only noisy points clip
    need((clip[[0, 2]] == 0).all() and ((clip[[1, 3], :19] > 0).sum(axis=1) >= 15).all(),
         "sweep clipping per point: %s" % clip)
    need(np.isposinf(a("sqnr_db")[2, :19]).all(), "adc 8 noise-free point: not lossless")
PYEOF
}

# same_diag A B: every dataset of /diagnostics identical (NaN and inf included)
same_diag() {
  $PY - "$1" "$2" <<'PYEOF'
import sys
import h5py
import numpy as np
fa, fb = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
fa["diagnostics"].visit(lambda n: names.append(n) if isinstance(fa["diagnostics"][n], h5py.Dataset) else None)
bad = [n for n in names if n not in fb["diagnostics"] or not np.array_equal(
    fa["diagnostics"][n][()], fb["diagnostics"][n][()], equal_nan=fa["diagnostics"][n].dtype.kind == "f")]
if bad or len(names) < 20:
    print("    /diagnostics differs: %s" % (bad or "too few datasets")); sys.exit(1)
PYEOF
}

run() { # run NRANKS CFG OUT [args]
  local n=$1 cfg=$2 out=$3
  shift 3
  $MPIRUN -n $n $BIN/asim-mpi "$cfg" --quiet --output "$out" "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log"; return 1; }
}

# kill_tree PID: the process and everything it started (the ranks under mpirun), by process id
kill_tree() {
  local c
  for c in $(ps -o pid= --ppid "$1"); do kill_tree "$c"; done
  kill -KILL "$1" 2>/dev/null
}

# settings: lossless (adc 8 = nrow 255, no noise), lossy (adc 4, no noise), noisy (adc 4, sigma 2 / 1)
for mode in lossless lossy noisy; do
  cfg="$TMP/$mode.cfg"
  case $mode in
  lossless) set -- "asim_conv_adc_prec = 8;" "asim_linear_adc_prec = 8;" ;;
  lossy) set -- "asim_conv_adc_prec = 4;" "asim_linear_adc_prec = 4;" ;;
  noisy) set -- "asim_conv_adc_prec = 4;" "asim_linear_adc_prec = 4;" "asim_conv_rand_noise_sigma = 2.0;" \
    "asim_conv_non_linear_sigma = 1.0;" ;;
  esac
  write_config "$cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/x.h5" \
    "asim_conv_nrow = 255;" "asim_linear_nrow = 255;" "$@"
  run 1 "$cfg" "$TMP/${mode}_off.h5" || { echo "FAIL: $mode run without diagnostics"; fail=1; continue; }
  run 1 "$cfg" "$TMP/${mode}_on.h5" $DIAG || { echo "FAIL: $mode run with diagnostics"; fail=1; continue; }
  if h5ls "$TMP/${mode}_off.h5/diagnostics" >/dev/null 2>&1; then echo "FAIL: /diagnostics written while off"; fail=1; fi
  if same_results "$TMP/${mode}_off.h5" "$TMP/${mode}_on.h5"; then
    echo "ok   $mode: predictions and logits identical with diagnostics on and off"
  else
    echo "FAIL: $mode: diagnostics changed the results"; fail=1
  fi
  if check $mode "$TMP/${mode}_on.h5"; then echo "ok   $mode: figures as expected and consistent with the sums"
  else echo "FAIL: $mode: /diagnostics"; fail=1; fi
done

# the plan and the model description do not change
if $MPIRUN -n 1 $BIN/asim-mpi "$TMP/noisy.cfg" --dry-run >"$TMP/dry_off" 2>&1 &&
  $MPIRUN -n 1 $BIN/asim-mpi "$TMP/noisy.cfg" --dry-run $DIAG >"$TMP/dry_on" 2>&1 && cmp -s "$TMP/dry_off" "$TMP/dry_on"; then
  echo "ok   --dry-run: plan and model description identical with diagnostics on"
else
  echo "FAIL: --dry-run output changes with diagnostics"; diff "$TMP/dry_off" "$TMP/dry_on" | head; fail=1
fi

# rank-count independence (noisy: the sums see every draw); --group 2: each batch split over two ranks
if run 2 "$TMP/noisy.cfg" "$TMP/noisy_n2.h5" $DIAG && run 2 "$TMP/noisy.cfg" "$TMP/noisy_g2.h5" $DIAG --group 2 &&
  run 1 "$TMP/noisy.cfg" "$TMP/noisy_t2.h5" $DIAG --set run.threads=2 &&
  same_diag "$TMP/noisy_on.h5" "$TMP/noisy_n2.h5" && same_diag "$TMP/noisy_on.h5" "$TMP/noisy_g2.h5" &&
  same_diag "$TMP/noisy_on.h5" "$TMP/noisy_t2.h5"; then
  echo "ok   noisy: /diagnostics identical for -n 1, -n 2, -n 2 --group 2 (batches split over ranks) and 2 threads"
else
  echo "FAIL: noisy: /diagnostics depends on the rank count"; fail=1
fi

# a sweep: one row per point, identical for -n 1 and -n 2
sweep='sweep = { asim_conv_adc_prec = [4, 8]; asim_conv_rand_noise_sigma = [0.0, 2.0]; repeats = 2; };'
write_config "$TMP/sweep.cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/x.h5" \
  "asim_conv_nrow = 255;" "asim_linear_nrow = 255;" "$sweep"
if run 1 "$TMP/sweep.cfg" "$TMP/sweep1.h5" $DIAG && run 2 "$TMP/sweep.cfg" "$TMP/sweep2.h5" $DIAG &&
  check sweep "$TMP/sweep1.h5" 4 && same_diag "$TMP/sweep1.h5" "$TMP/sweep2.h5"; then
  echo "ok   sweep: /diagnostics rows per point as expected, identical for -n 1 and -n 2"
else
  echo "FAIL: sweep diagnostics"; fail=1
fi

# killed part way and resumed: the same /diagnostics as the uninterrupted runs (noisy: batches of 2)
TEST_BS=2 write_config "$TMP/noisy2.cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/x.h5" \
  "asim_conv_nrow = 255;" "asim_linear_nrow = 255;" "asim_conv_adc_prec = 4;" "asim_conv_rand_noise_sigma = 2.0;"
run 2 "$TMP/noisy2.cfg" "$TMP/noisy2.h5" $DIAG || { echo "FAIL: noisy2 run"; fail=1; }
for what in noisy2 sweep; do
  cfg="$TMP/$what.cfg"
  ref="$TMP/$what.h5"
  [ $what = sweep ] && ref="$TMP/sweep1.h5"
  rep="$TMP/${what}_killed.h5"
  $MPIRUN -n 2 $BIN/asim-mpi "$cfg" --quiet --output "$rep" $DIAG >/dev/null 2>&1 &
  pid=$!
  for i in $(seq 1 1200); do # until a batch is done
    sleep 0.05
    [ -f "$rep" ] && HDF5_USE_FILE_LOCKING=FALSE $PY -c 'import sys, h5py
sys.exit(0 if h5py.File(sys.argv[1], "r")["progress/batch_done"][()].any() else 1)' "$rep" 2>/dev/null && break
  done
  kill_tree $pid
  wait $pid 2>/dev/null
  read -r ndone total < <($PY -c 'import sys, h5py; d = h5py.File(sys.argv[1], "r")["progress/batch_done"][()]
print(int(d.sum()), d.size)' "$rep" 2>/dev/null)
  if ! run 2 "$cfg" "$rep" --resume $DIAG; then echo "FAIL: $what --resume"; fail=1; continue; fi
  if same_diag "$ref" "$rep"; then
    echo "ok   $what: killed with $ndone of $total batches done, resumed: /diagnostics identical to the uninterrupted run"
  else
    echo "FAIL: $what: killed ($ndone of $total batches done) and resumed: /diagnostics differs"; fail=1
  fi
done
exit $fail
