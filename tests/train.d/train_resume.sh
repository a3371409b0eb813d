#!/usr/bin/env bash
# Two epochs in one run equal one epoch, then --resume for the second, and equal a run stopped by
# SIGTERM inside the first epoch, then resumed: the same per-step losses and final weights.
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
# c: stopped by SIGTERM inside the first epoch (sent once both ranks have their handler: they stop
# after the step in flight, whatever the machine's speed), exit 75; --resume finishes the run
run 2 "$CFG" "${small[@]}" --set data.max_samples=640 --set max_epoch=2 --set "report.checkpoint_dir=$tmp/c" \
  > "$tmp/c.log" 2>&1 &
launcher=$!
caught() { # PID: SIGTERM (bit 14) in the caught-signal mask
  local m; m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
  [ -n "$m" ] && (((0x$m >> 14) & 1))
}
ranks=""
for _ in $(seq 1 3000); do
  ranks=$(for q in $(pgrep -x asim-train); do tr '\0' ' ' < "/proc/$q/cmdline" 2>/dev/null | grep -q "$tmp/c" && caught "$q" && echo "$q"; done)
  [ "$(wc -w <<< "$ranks")" -eq 2 ] && break
  sleep 0.01
done
kill -TERM $ranks 2>/dev/null
wait $launcher
rc=$?
fail=0
if [ $rc -ne 75 ] || ! grep -q "stopped by a signal after step" "$tmp/c.log"; then
  echo "FAIL: SIGTERM inside an epoch: exit $rc (expected 75):"; cat "$tmp/c.log"; fail=1
else
  grep -h "stopped by a signal" "$tmp/c.log"
  run 2 "${args[@]}" --set max_epoch=2 --set "report.checkpoint_dir=$tmp/c" --resume "$tmp/c/checkpoint_last.h5" \
    >> "$tmp/c.log" 2>&1 || { echo "FAIL: resume after SIGTERM"; cat "$tmp/c.log"; fail=1; }
  if ! diff <(step_losses "$tmp/a/history.h5") <(step_losses "$tmp/c/history.h5") > /dev/null; then
    echo "FAIL: the loss curve resumed from inside an epoch differs"; fail=1
  fi
  for d in layer1.0.conv1.weight layer3.0.bn2.running_var fc.weight relu.alpha; do
    if ! h5diff -q "$tmp/a/checkpoint_2.h5" "$tmp/c/checkpoint_2.h5" "/$d" "/$d"; then echo "FAIL: $d differs after the SIGTERM resume"; fail=1; fi
  done
  for d in valid_acc train_loss train_acc; do
    if ! h5diff -q "$tmp/a/history.h5" "$tmp/c/history.h5" "/$d" "/$d"; then echo "FAIL: history $d differs after the SIGTERM resume"; fail=1; fi
  done
fi
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
