#!/usr/bin/env bash
# An error on one rank of asim-prep (a corrupt PNG in the middle of the set, read by rank 1 of
# 3) stops every rank with a non-zero status and no hang; the message names the file and the
# partial output is removed. A bad source path fails the same way.
# Usage: prep_error_all_ranks.sh ASIM_PREP MPIEXEC
set -uo pipefail
prep=$1 mpiexec=$2
py=/usr/bin/python3
if ! $py -c 'import PIL, numpy' 2>/dev/null; then
  echo "SKIP: $py with PIL and numpy is needed to write the test images"; exit 77
fi
tmp=$(mktemp -d /tmp/asim-prep-err-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_pml=ob1
fail=0
$py - "$tmp/set" <<'PY'
import sys, os, numpy as np
from PIL import Image
root = sys.argv[1]
for cls in ['cat', 'dog', 'frog']:
    os.makedirs(os.path.join(root, cls))
    for j in range(4):
        Image.fromarray(np.full((32, 32, 3), j * 40, np.uint8)).save(os.path.join(root, cls, '%d.png' % j))
open(os.path.join(root, 'dog', '1.png'), 'wb').write(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)  # sample 5 of 12
PY

check() { # name, expected message, command...
  local name=$1 want=$2; shift 2
  timeout 120 "$mpiexec" -n 3 --allow-run-as-root --oversubscribe "$@" > "$tmp/out" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then echo "FAIL $name: hung (timeout)"; fail=1; return; fi
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; fail=1; return; fi
  if ! grep -q -- "$want" "$tmp/out"; then echo "FAIL $name: no '$want' in:"; cat "$tmp/out"; fail=1; return; fi
  echo "ok $name (exit $rc)"; grep -m1 "asim-prep:" "$tmp/out" | cut -c1-300
}
check "corrupt PNG on rank 1" "dog/1.png: corrupt PNG" "$prep" --task CIFAR-10 "$tmp/set" "$tmp/out.h5"
if [ -e "$tmp/out.h5" ]; then echo "FAIL: partial output left behind"; fail=1; fi
check "missing source" "missing" "$prep" --task CIFAR-10 "$tmp/missing" "$tmp/out.h5"
check "unwritable output" "cannot create" "$prep" --task CIFAR-10 --labels dirs "$tmp/set/cat/.." "/nonexistent-dir/out.h5"
check "bad option" "unknown option" "$prep" --bogus "$tmp/set" "$tmp/out.h5"
if [ $fail -eq 0 ]; then echo "4 passed, 0 failed"; else exit 1; fi
