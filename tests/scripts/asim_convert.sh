#!/usr/bin/env bash
# asim-convert on the checkpoint fixtures: usage errors exit 2, refused inputs exit 1 with the
# reason printed once and no output file, conversions exit 0 and write a readable checkpoint.
# Usage: asim_convert.sh ASIM_CONVERT FIXTURE_DIR GOLDEN_DIR
set -u
bin=$1 data=$2 golden=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
check() { # description, expected exit code, command...
  local what=$1 want=$2
  shift 2
  n=$((n + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $what: exit $rc, expected $want"; cat "$tmp/out" "$tmp/err"; fail=$((fail + 1)); return 1
  fi
  return 0
}
expect_err() { # pattern: must appear exactly once on stderr
  local c
  c=$(grep -c -- "$1" "$tmp/err")
  if [ "$c" != 1 ]; then echo "FAIL: stderr should mention '$1' once (got $c):"; cat "$tmp/err"; fail=$((fail + 1)); fi
}

check "no arguments" 2 "$bin" && grep -q "^usage: asim-convert" "$tmp/err" || { echo "FAIL: no usage"; fail=$((fail + 1)); }
check "unknown option" 2 "$bin" "$data/plain_state.pkl" "$tmp/x.h5" --frobnicate && expect_err "unknown or incomplete option '--frobnicate'"
check "bad --classes" 2 "$bin" "$data/plain_state.pkl" "$tmp/x.h5" --classes zero && expect_err "positive integer"
check "--help" 0 "$bin" --help
check "missing input" 1 "$bin" "$tmp/nothere.pkl" "$tmp/x.h5" && expect_err "cannot open checkpoint"
for h in h_os_system:"forbidden global 'posix.system'" h_eval:"forbidden global 'builtins.eval'" h_unknown_opcode:"opcode 0xfe" \
         h_truncated:"truncated" h_huge_size:"overflows" h_short_storage:"holds 16 bytes" h_legacy:"legacy"; do
  f=${h%%:*} msg=${h#*:}
  check "$f refused" 1 "$bin" "$data/$f.pkl" "$tmp/$f.h5" && expect_err "$msg"
  [ -e "$tmp/$f.h5" ] && { echo "FAIL: $f: output written"; fail=$((fail + 1)); }
done
check "ASiM checkpoint" 0 "$bin" "$data/asim_dict.pkl" "$tmp/a.h5" --model small
grep -q "8 tensors, model 'small', classes 2" "$tmp/out" || { echo "FAIL: summary"; cat "$tmp/out"; fail=$((fail + 1)); }
check "HDF5 input" 0 "$bin" "$tmp/a.h5" "$tmp/b.h5"
check "torchvision resnet18" 0 "$bin" "$data/tv_resnet18.pkl" "$tmp/r.h5" --torchvision resnet18 --classes 10 --seed 5
grep -q "132 tensors, model 'resnet18', classes 10" "$tmp/out" || { echo "FAIL: resnet18 summary"; cat "$tmp/out"; fail=$((fail + 1)); }
check "torchvision resnet18 --no-pact" 0 "$bin" "$data/tv_resnet18.pkl" "$tmp/r2.h5" --torchvision resnet18 --no-pact
grep -q "123 tensors" "$tmp/out" || { echo "FAIL: no-pact count"; cat "$tmp/out"; fail=$((fail + 1)); }
check "torchvision vit_b_32" 0 "$bin" "$data/tv_vit_b_32.pkl" "$tmp/v.h5" --torchvision vit_b_32
check "wrong architecture" 1 "$bin" "$data/tv_resnet18.pkl" "$tmp/w.h5" --torchvision resnet34 && expect_err "layer1.2.conv1.weight"
if command -v h5dump >/dev/null; then
  check "h5dump reads the output" 0 h5dump -a keys_json "$tmp/r.h5"
  if [ -f "$golden/model_resnet18_cifar10_weights.h5" ]; then
    h5dump -a keys_json "$tmp/r.h5" | grep '(0)' >"$tmp/k1"
    h5dump -a keys_json "$golden/model_resnet18_cifar10_weights.h5" | grep '(0)' >"$tmp/k2"
    n=$((n + 1))
    cmp -s "$tmp/k1" "$tmp/k2" || { echo "FAIL: mapped keys_json differs from the golden ResNet-18"; fail=$((fail + 1)); }
  fi
fi
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
