#!/usr/bin/env bash
# Malformed and out-of-range case files must give a clear error and exit status 2 from
# asim-layer — never a crash (status >= 128), never a silent pass.
set -u
tool=$1
golden=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect_error() { # name, expected message fragment, file
  local name=$1 frag=$2 file=$3 out rc
  out=$("$tool" "$file" 2>&1)
  rc=$?
  if [ $rc -ne 2 ] || ! grep -qi -- "$frag" <<<"$out"; then
    echo "FAIL $name: exit $rc, output:"
    echo "$out" | sed 's/^/    /'
    fail=1
  else
    echo "ok   $name: $(grep -i -m1 -- "$frag" <<<"$out" | cut -c1-150)"
  fi
}

base="$golden/conv_sim_w8a8_k3s1p1_c16_adc4_nrow256.h5"
lin="$golden/fc_sim_enc2_unsigned_w8a8_300x8_nrow256.h5"
expect_error "missing file" "cannot open" "$tmp/nope.h5"
echo "not hdf5" >"$tmp/text.h5"
expect_error "not an HDF5 file" "not an HDF5 file" "$tmp/text.h5"
head -c 3000 "$base" >"$tmp/trunc.h5"
expect_error "truncated file" "$(basename "$tmp")/trunc.h5" "$tmp/trunc.h5"

if ! $py -c 'import h5py' 2>/dev/null; then
  echo "python3-h5py not installed: skipping the modified-case checks"
  exit $fail
fi
mk() { # out, src, python statements on f
  cp "$2" "$1" && chmod u+w "$1" && $py - "$1" <<EOF2
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
$3
f.close()
EOF2
}
mk "$tmp/adc0.h5" "$base" 'f.attrs["adc_prec"] = np.int64(0)'
expect_error "adc_prec 0" "adc_prec = 0" "$tmp/adc0.h5"
mk "$tmp/wbit1.h5" "$base" 'f.attrs["wbit"] = np.int64(1)'
expect_error "wbit 1" "wbit = 1" "$tmp/wbit1.h5"
mk "$tmp/nrow0.h5" "$base" 'f.attrs["nrow"] = np.int64(0)'
expect_error "nrow 0" "nrow = 0" "$tmp/nrow0.h5"
mk "$tmp/enc9.h5" "$base" 'f.attrs["act_enc"] = np.int64(9)'
expect_error "act_enc > xbit (conv)" "act_enc = 9" "$tmp/enc9.h5"
mk "$tmp/lenc9.h5" "$lin" 'f.attrs["act_enc"] = np.int64(9)'
expect_error "act_enc > xbit (linear)" "act_enc = 9" "$tmp/lenc9.h5"
mk "$tmp/signedenc.h5" "$base" 'f.attrs["signed_act"] = np.int64(1); f.attrs["act_enc"] = np.int64(2)'
expect_error "signed bit-parallel conv" "signed" "$tmp/signedenc.h5"
mk "$tmp/kernel.h5" "$base" 'f.attrs["nrow"] = np.int64(8)'
expect_error "kernel larger than nrow" "nrow = 8" "$tmp/kernel.h5"
mk "$tmp/shape.h5" "$base" 'del f["weight"]; f["weight"] = np.zeros((8, 15, 3, 3), np.float32)'
expect_error "weight shape mismatch" "shape" "$tmp/shape.h5"
mk "$tmp/noinput.h5" "$base" 'del f["input"]'
expect_error "missing input" "missing dataset 'input'" "$tmp/noinput.h5"
mk "$tmp/kind.h5" "$base" 'f.attrs["kind"] = np.bytes_("conv3d")'
expect_error "unknown kind" "unknown kind" "$tmp/kind.h5"
mk "$tmp/mode.h5" "$base" 'f.attrs["mode"] = np.bytes_("Simulate")'
expect_error "bad mode" "mode 'Simulate'" "$tmp/mode.h5"
mk "$tmp/noattr.h5" "$base" 'del f.attrs["xbit"]'
expect_error "missing attribute" "missing attribute 'xbit'" "$tmp/noattr.h5"
mk "$tmp/sigma.h5" "$base" 'f.attrs["rand_noise_sigma"] = -1.0'
expect_error "negative sigma" "noise levels must be >= 0" "$tmp/sigma.h5"
mk "$tmp/outshape.h5" "$lin" 'del f["output"]; f["output"] = np.zeros((2, 9), np.float32)'
expect_error "output shape mismatch" "output has shape" "$tmp/outshape.h5"
mk "$tmp/dtype.h5" "$lin" 'd = f["input"][...]; del f["input"]; f["input"] = d.astype(np.float64)'
expect_error "input not float32" "must be float32" "$tmp/dtype.h5"
exit $fail
