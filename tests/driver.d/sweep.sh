#!/usr/bin/env bash
# A sweep (2 ADC precisions x 2 noise levels x 2 repeats) in one asim-mpi run: per-point results
# equal running each point alone (with run.seed + repeat), are identical for -n 1 and -n 2, and
# a sweep killed part way and resumed equals an uninterrupted one.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" 8 || exit 1
$BIN/asim-init ResNet-18 "$TMP/ck.h5" --classes 10 --size 8 || exit 1
TEST_BS=4
sweep='sweep = { asim_conv_adc_prec = [5, 8]; asim_conv_rand_noise_sigma = [0.0, 2.0]; repeats = 2; };'
write_config "$TMP/sweep.cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/s1.h5" "$sweep"
$MPIRUN -n 1 $BIN/asim-mpi "$TMP/sweep.cfg" --quiet >"$TMP/log1" 2>&1 || { echo "FAIL: sweep -n 1"; cat "$TMP/log1"; exit 1; }
$MPIRUN -n 2 $BIN/asim-mpi "$TMP/sweep.cfg" --quiet --output "$TMP/s2.h5" >/dev/null 2>&1 || { echo "FAIL: sweep -n 2"; exit 1; }
for d in /sweep/pred /sweep/top5 /sweep/logits /sweep/top1 /sweep/confusion /sweep/points; do
  h5diff -q "$TMP/s1.h5" "$TMP/s2.h5" $d $d >/dev/null 2>&1 || { echo "FAIL: $d differs between -n 1 and -n 2"; fail=1; }
done
[ $fail = 0 ] && echo "ok   sweep: -n 1 and -n 2 identical"
cat "$TMP/log1" | grep '^point'
# each point alone: point p = (adc, sigma), run index p*2 + repeat
p=0
for adc in 5 8; do
  for sig in 0.0 2.0; do
    for rep in 0 1; do
      write_config "$TMP/alone.cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/alone.h5"
      $MPIRUN -n 2 $BIN/asim-mpi "$TMP/alone.cfg" --quiet --set asim_conv_adc_prec=$adc \
        --set asim_conv_rand_noise_sigma=$sig --set run.seed=$((11 + rep)) >/dev/null 2>&1 || { echo "FAIL: point alone"; fail=1; continue; }
      run=$((p * 2 + rep))
      a=$(h5dump -d /sweep/pred -s "$run,0" -c "1,8" -y "$TMP/s1.h5" | sed -n '/DATA {/,/}/p' | tr -d ' \n')
      b=$(h5dump -d /samples/pred -y "$TMP/alone.h5" | sed -n '/DATA {/,/}/p' | tr -d ' \n')
      if [ "$a" != "$b" ] || [ -z "$a" ]; then echo "FAIL: point adc=$adc sigma=$sig repeat $rep: sweep $a, alone $b"; fail=1; fi
    done
    p=$((p + 1))
  done
done
[ $fail = 0 ] && echo "ok   sweep: every point and repeat equals running it alone"
# kill part way, resume
$MPIRUN -n 2 $BIN/asim-mpi "$TMP/sweep.cfg" --quiet --output "$TMP/k.h5" >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 600); do
  sleep 0.1
  [ -f "$TMP/k.h5" ] && h5dump -d /progress/batch_done "$TMP/k.h5" 2>/dev/null | grep -q ' 1' && break
done
pkill -KILL -f "^$BIN/asim-mpi $TMP/sweep.cfg"
wait $pid
$MPIRUN -n 2 $BIN/asim-mpi "$TMP/sweep.cfg" --quiet --resume --output "$TMP/k.h5" >/dev/null 2>&1 || { echo "FAIL: sweep resume"; exit 1; }
for d in /sweep/pred /sweep/top5 /sweep/top1 /sweep/confusion; do
  h5diff -q "$TMP/s1.h5" "$TMP/k.h5" $d $d >/dev/null 2>&1 || { echo "FAIL: resumed sweep: $d differs"; fail=1; }
done
[ $fail = 0 ] && echo "ok   sweep killed part way and resumed equals the uninterrupted one"
exit $fail
