#!/usr/bin/env bash
# Two epochs in one run equal one epoch, then --resume for the second (on another rank count):
# the same per-step losses and the same final weights.
# Usage: train_resume.sh ASIM_TRAIN MPIEXEC SOURCE_DIR
set -uo pipefail
train=$1 mpiexec=$2 src=$3
source "$(dirname "$0")/train_common.sh"
tmp=$(mktemp -d /tmp/asim-train-resume-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
args=("$CFG" "${small[@]}" --set data.max_samples=640 --quiet)
run 2 "${args[@]}" --set max_epoch=2 --set "report.checkpoint_dir=$tmp/a" > "$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; exit 1; }
run 2 "${args[@]}" --set max_epoch=1 --set "report.checkpoint_dir=$tmp/b" > "$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; exit 1; }
run 2 "${args[@]}" --set max_epoch=2 --set "report.checkpoint_dir=$tmp/b" --resume "$tmp/b/checkpoint_last.h5" \
  >> "$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; exit 1; }
fail=0
if ! diff <(step_losses "$tmp/a/history.h5") <(step_losses "$tmp/b/history.h5") > /dev/null; then
  echo "FAIL: the resumed loss curve differs"; fail=1
fi
for d in layer1.0.conv1.weight layer3.0.bn2.running_var fc.weight relu.alpha; do
  if ! h5diff -q "$tmp/a/checkpoint_2.h5" "$tmp/b/checkpoint_2.h5" "/$d" "/$d"; then echo "FAIL: $d differs"; fail=1; fi
done
if ! h5diff -q "$tmp/a/checkpoint_2.h5" "$tmp/b/checkpoint_2.h5" /optimizer /optimizer; then echo "FAIL: optimizer state differs"; fail=1; fi
grep -h "Epoch\[" "$tmp/a.log" "$tmp/b.log"
[ $fail -eq 0 ] && echo "resume: identical losses, weights, BN statistics and optimizer state"
exit $fail
