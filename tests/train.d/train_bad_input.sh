#!/usr/bin/env bash
# Bad training input stops every rank of mpirun -n 2 with a non-zero status, no hang, and a
# message naming the problem: a missing train_dir, a checkpoint of another model (resume and
# pretrain), lr <= 0, milestones out of order, a simulation config, a batch smaller than the
# rank count, an unwritable checkpoint folder.
# Usage: train_bad_input.sh ASIM_TRAIN MPIEXEC SOURCE_DIR GOLDEN_DIR
set -uo pipefail
train=$1 mpiexec=$2 src=$3 golden=$4
source "$(dirname "$0")/train_common.sh"
tmp=$(mktemp -d /tmp/asim-train-bad-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 passed=0
base=("$CFG" "${small[@]}" --set data.max_samples=128 --quiet)
check() { # name, expected message, args...
  local name=$1 want=$2; shift 2
  timeout 120 "$mpiexec" -n 2 --allow-run-as-root --oversubscribe "$train" "$@" > "$tmp/out" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then echo "FAIL $name: hung (timeout)"; fail=1; return; fi
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; cat "$tmp/out"; fail=1; return; fi
  if ! grep -q -- "$want" "$tmp/out"; then echo "FAIL $name: no '$want' in:"; cat "$tmp/out"; fail=1; return; fi
  passed=$((passed + 1))
  echo "ok $name (exit $rc): $(grep -m1 "asim-train" "$tmp/out" | cut -c1-240)"
}
# a ResNet-8 checkpoint to misuse
timeout 300 "$train" "${base[@]}" --set max_epoch=1 --set "report.checkpoint_dir=$tmp/ck" --max-steps 1 --no-valid \
  > "$tmp/ck.log" 2>&1 || { echo "FAIL: could not write a checkpoint"; cat "$tmp/ck.log"; exit 1; }
check "missing train_dir" "$tmp/nowhere" "${base[@]}" --set "train_dir=$tmp/nowhere"
check "resume a checkpoint of another model" "holds a ResNet-8" "${base[@]}" --set model_name=ResNet-18 \
  --resume "$tmp/ck/checkpoint_last.h5"
# weights of another network (a ResNet-18 written by asim-init) as the starting point
"$(dirname "$train")/asim-init" ResNet-18 "$tmp/r18.h5" --classes 10 --size 28 --channels 1 > /dev/null 2>&1 ||
  { echo "FAIL: asim-init could not write a ResNet-18 checkpoint"; exit 1; }
check "pretrain weights of another model" "holds a ResNet-18" "${base[@]}" --set "pretrain_model_path=$tmp/r18.h5"
check "resume a file that is no checkpoint" "$tmp/ck/train.log" "${base[@]}" --resume "$tmp/ck/train.log"
check "lr_init = 0" "lr_init" "${base[@]}" --set lr_init=0
check "lr_init < 0" "lr_init" "${base[@]}" --set lr_init=-0.1
check "milestones out of order" "must not decrease" "${base[@]}" --set "milestones=[5,2]"
check "simulation config" "asim-train runs training configurations" "${base[@]}" --set run.job=simulate \
  --set "pretrain_model_path=$tmp/ck/checkpoint_last.h5"
check "batch smaller than the ranks" "train_bs = 1" "${base[@]}" --set train_bs=1
check "Simulation-mode layers" "set asim_conv_mode" "${base[@]}" --set asim_conv_mode=Simulation
check "unwritable checkpoint folder" "checkpoint_dir" "${base[@]}" --set "report.checkpoint_dir=/proc/asim-no"
echo "$passed passed"
exit $fail
