#!/usr/bin/env bash
# A CI-sized training run (40 optimiser steps of ResNet-8 on 2560 Fashion-MNIST images, trim noise
# on): the loss falls, and the loss curve of -n 2 (and -n 3) matches -n 1 within float
# reduction-order noise: data order, augmentation, trim noise and dropout are counter-based, every
# activation scale is an all-reduce MAX and BatchNorm uses the global batch statistics.
# Usage: train_ci.sh ASIM_TRAIN MPIEXEC SOURCE_DIR
set -uo pipefail
train=$1 mpiexec=$2 src=$3
source "$(dirname "$0")/train_common.sh"
tmp=$(mktemp -d /tmp/asim-train-ci-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
for n in 1 2 3; do
  run $n "$CFG" "${small[@]}" --set data.max_samples=2560 --set max_epoch=1 --set "report.checkpoint_dir=$tmp/n$n" \
    --quiet > "$tmp/log$n" 2>&1 || { echo "FAIL: -n $n exited $?"; cat "$tmp/log$n"; exit 1; }
  step_losses "$tmp/n$n/history.h5" > "$tmp/loss$n"
  grep "Epoch\[" "$tmp/log$n"
done
paste "$tmp/loss1" "$tmp/loss2" "$tmp/loss3" | awk -v fail=0 '
  { n++; a[n] = $1; d2 = $2 - $1; d3 = $3 - $1; if (d2 < 0) d2 = -d2; if (d3 < 0) d3 = -d3;
    if (d2 > m2) m2 = d2; if (d3 > m3) m3 = d3;
    tol = n <= 10 ? 1e-3 : 2e-2;   # identical sums in another order: tiny at first, chaotic later
    if (d2 > tol || d3 > tol) { printf "FAIL step %d: %s %s %s\n", n, $1, $2, $3; fail = 1 } }
  END { for (i = 1; i <= 8; i++) { f += a[i]; l += a[n - 8 + i] }
        printf "%d steps; loss %.4f (first 8) -> %.4f (last 8); max |n2 - n1| %.2e, max |n3 - n1| %.2e\n", n, f / 8, l / 8, m2, m3;
        if (n != 40) { print "FAIL: expected 40 steps"; fail = 1 }
        if (l / 8 > f / 8 - 0.3) { print "FAIL: the loss did not fall"; fail = 1 }
        exit fail }' || fail=1
exit $fail
