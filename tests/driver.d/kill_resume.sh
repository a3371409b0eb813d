#!/usr/bin/env bash
# A run killed part way (SIGKILL, and SIGTERM as a SLURM time limit sends to every task) and continued with
# --resume gives a report whose results equal an uninterrupted run's, bit for bit.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" 24 || exit 1
$BIN/asim-init ResNet-18 "$TMP/ck.h5" --classes 10 --size 8 || exit 1
cfg="$TMP/run.cfg"
TEST_BS=2
write_config "$cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/clean.h5" \
  "asim_conv_rand_noise_sigma = 1.0;" "asim_conv_non_linear_sigma = 1.0;"
$MPIRUN -n 2 $BIN/asim-mpi "$cfg" --quiet >/dev/null 2>&1 || { echo "FAIL: clean run"; exit 1; }
batches=$(h5dump -d /progress/batch_done "$TMP/clean.h5" | grep -c '1')

for sig in KILL TERM; do
  rep="$TMP/killed_$sig.h5"
  $MPIRUN -n 2 $BIN/asim-mpi "$cfg" --quiet --output "$rep" >"$TMP/log_$sig" 2>&1 &
  pid=$!
  # wait until a few batches are in the file, then signal
  for i in $(seq 1 600); do
    sleep 0.1
    if [ -f "$rep" ] && h5dump -d /progress/batch_done "$rep" 2>/dev/null | grep -q ' 1'; then break; fi
  done
  sleep 0.5
  # signal the ranks themselves, as SLURM does at a time limit (not mpirun)
  pkill -$sig -f "^$BIN/asim-mpi $cfg"
  wait $pid
  rc=$?
  ndone=$(h5dump -d /progress/batch_done "$rep" 2>/dev/null | grep -o '[01]' | grep -c 1)
  echo "     SIG$sig: mpirun exit $rc, $ndone batches in the report before --resume"
  if [ $sig = TERM ] && [ $rc -ne 75 ]; then
    echo "FAIL: SIGTERM should exit with 75 (interrupted, resumable), got $rc"; cat "$TMP/log_$sig"; fail=1
  fi
  if ! out=$($MPIRUN -n 2 $BIN/asim-mpi "$cfg" --quiet --resume --output "$rep" 2>&1); then
    echo "FAIL: --resume after SIG$sig:"; echo "$out"; fail=1; continue
  fi
  if same_results "$TMP/clean.h5" "$rep"; then
    echo "ok   SIG$sig part way, --resume: results identical to the uninterrupted run"
  else
    echo "FAIL: SIG$sig + --resume differs from the uninterrupted run"; fail=1
  fi
done
exit $fail
