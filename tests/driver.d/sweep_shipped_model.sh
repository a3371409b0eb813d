#!/usr/bin/env bash
# Issue 7's acceptance sweep on the shipped NAT ResNet-8 and a Fashion-MNIST subset: ADC bits
# {3, 4, 5, 6, 8} (convs and classifier linked) x noise sigma {0.5, 1.0} % (the four noise keys
# linked) x 3 repeats in one `mpirun -n 2`, and every point and repeat equals running it alone.
# Skips (77) without the Debian Fashion-MNIST files.
source "$(dirname "$0")/common.sh"
FM=${ASIM_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -e "$FM/t10k-images-idx3-ubyte.gz" ] || [ -e "$FM/t10k-images-idx3-ubyte" ] ||
  { echo "SKIP: Fashion-MNIST not found in $FM (Debian package dataset-fashion-mnist)"; exit 77; }
N=64
base=(--set "test_dir=\"$FM\"" --set data.max_samples=$N --set test_bs=32 --set report.logits=true --quiet)
cp "$SRC/conf/fashion_resnet8.cfg" "$TMP/sweep.cfg"
cat >>"$TMP/sweep.cfg" <<CFG
sweep = {
  asim_conv_adc_prec = [3, 4, 5, 6, 8];  asim_linear_adc_prec = [3, 4, 5, 6, 8];
  asim_conv_rand_noise_sigma = [0.5, 1.0];    asim_conv_non_linear_sigma = [0.5, 1.0];
  asim_linear_rand_noise_sigma = [0.5, 1.0];  asim_linear_non_linear_sigma = [0.5, 1.0];
  link = (["asim_conv_adc_prec", "asim_linear_adc_prec"],
          ["asim_conv_rand_noise_sigma", "asim_conv_non_linear_sigma",
           "asim_linear_rand_noise_sigma", "asim_linear_non_linear_sigma"]);
  repeats = 3;
};
CFG
cd "$SRC" # the configuration names models/ relative to the source tree
$MPIRUN -n 2 $BIN/asim-mpi "$TMP/sweep.cfg" "${base[@]}" --output "$TMP/sweep.h5" >"$TMP/log" 2>&1 ||
  { echo "FAIL: the sweep"; cat "$TMP/log"; exit 1; }
shape=$(h5ls "$TMP/sweep.h5/sweep/top1" | grep -o '{[^}]*}')
[ "$shape" = "{10, 3}" ] || { echo "FAIL: /sweep/top1 has shape $shape, expected {10, 3}"; exit 1; }
grep '^point' "$TMP/log"
run=0
for adc in 3 4 5 6 8; do
  for sig in 0.5 1.0; do
    for rep in 0 1 2; do
      noise=()
      for k in asim_conv_rand_noise_sigma asim_conv_non_linear_sigma asim_linear_rand_noise_sigma asim_linear_non_linear_sigma; do
        noise+=(--set "$k=$sig")
      done
      $MPIRUN -n 1 $BIN/asim-mpi conf/fashion_resnet8.cfg "${base[@]}" --set asim_conv_adc_prec=$adc \
        --set asim_linear_adc_prec=$adc "${noise[@]}" --set run.seed=$((1 + rep)) --output "$TMP/alone.h5" \
        >"$TMP/alone.log" 2>&1 || { echo "FAIL: point adc=$adc sigma=$sig alone"; cat "$TMP/alone.log"; fail=1; continue; }
      for d in pred logits; do
        a=$(h5dump -d /sweep/$d -s "$run,0$([ $d = logits ] && echo ,0)" -c "1,$N$([ $d = logits ] && echo ,10)" -y "$TMP/sweep.h5" |
          sed -n '/DATA {/,/}/p' | tr -d ' \n')
        b=$(h5dump -d /samples/$d -y "$TMP/alone.h5" | sed -n '/DATA {/,/}/p' | tr -d ' \n')
        if [ -z "$a" ] || [ "$a" != "$b" ]; then
          echo "FAIL: adc $adc, sigma $sig, repeat $rep: the sweep's $d differ from the point run alone"
          fail=1
        fi
      done
      run=$((run + 1))
    done
  done
done
[ $fail = 0 ] && echo "ok   10 points x 3 repeats of the shipped model: predictions and logits equal each point run alone"
exit $fail
