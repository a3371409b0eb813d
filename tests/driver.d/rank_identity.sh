#!/usr/bin/env bash
# asim-mpi under 1, 2, 3 and 4 ranks, on a tiny dataset in every supported format, with noise
# off and on: every per-sample result (index, label, prediction, top-5, logits) and the confusion
# matrix must be identical across rank counts. ASiM's extensions (majority voting, current domain
# with cell variation, weight bit-parallel) with noise, on one format: the same under 1, 2 and 3 ranks.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" 12 || exit 1
$BIN/asim-prep --format folders --task CIFAR-10 --input-size 8 "$TMP/data/cifar10_png" "$TMP/data/packed.h5" >/dev/null 2>&1 || { echo "asim-prep failed"; exit 1; }
for spec in "10 3" "100 3" "1000 3" "10 1"; do
  set -- $spec
  $BIN/asim-init ResNet-18 "$TMP/ck_$1_$2.h5" --classes $1 --channels $2 --size 8 --seed 5 || exit 1
done
#        name     task           dir                         format     classes channels
sets=("png      CIFAR-10      $TMP/data/cifar10_png         folders    10 3"
      "jpeg     ImageNet      $TMP/data/imagenet_jpeg       folders    1000 3"
      "bin      CIFAR-10      $TMP/data/cifar10_bin         cifar-bin  10 3"
      "csv      CIFAR-100     $TMP/data/cifar100/test_images csv       100 3"
      "idx      Fashion-MNIST $TMP/data/fmnist_idx          idx        10 1"
      "hdf5     CIFAR-10      $TMP/data/packed.h5           hdf5       10 3")
noise=("asim_conv_rand_noise_sigma = 1.0;" "asim_conv_non_linear_sigma = 1.0;"
       "asim_linear_rand_noise_sigma = 1.0;" "asim_linear_non_linear_sigma = 1.0;" "asim_conv_adc_prec = 6;")
for s in "${sets[@]}"; do
  set -- $s
  name=$1 task=$2 dir=$3 fmt=$4 cls=$5 ch=$6
  for mode in clean noisy; do
    bad=0
    extra=()
    [ $mode = noisy ] && extra=("${noise[@]}")
    for n in 1 2 3 4; do
      cfg="$TMP/$name-$mode-$n.cfg" rep="$TMP/$name-$mode-$n.h5"
      write_config "$cfg" "$task" "$dir" "$fmt" "$cls" "$TMP/ck_${cls}_${ch}.h5" "$rep" "${extra[@]}"
      if ! out=$(timeout 300 $MPIRUN -n $n $BIN/asim-mpi "$cfg" --quiet 2>&1); then
        echo "FAIL $name $mode -n $n: asim-mpi failed:"; echo "$out" | sed 's/^/    /'; fail=1; bad=1; continue
      fi
      if [ $n -gt 1 ]; then
        if same_results "$TMP/$name-$mode-1.h5" "$rep"; then :; else echo "FAIL $name $mode: -n 1 and -n $n differ"; fail=1; bad=1; fi
      fi
    done
    acc=$(grep -o 'Test Acc: [0-9.]*%' <<<"$out")
    [ $bad = 0 ] && echo "ok   $name ($fmt, $task) $mode: -n 1..4 identical ($acc)"
  done
done
# extensions (reference kernel: 6 samples = a batch of 5 and one of 1, split across ranks); the
# voting keys go through --set
ext=("plain"
     "voting|asim_conv_voting_levels = 3;|asim_conv_num_samp = 3;|asim_linear_voting_levels = 4;|asim_linear_num_samp = 4;|asim_conv_rand_noise_sigma = 1.0;|asim_conv_non_linear_sigma = 1.0;|asim_linear_rand_noise_sigma = 1.0;"
     "current|asim_conv_non_linear_alpha = 0.002;|asim_conv_weight_var = 5.0;|asim_conv_rand_noise_sigma = 0.5;|asim_linear_non_linear_alpha = 0.001;|asim_linear_weight_var = 5.0;|asim_linear_rand_noise_sigma = 0.5;"
     "w4a4|asim_conv_weight_bp = true;|asim_act_enc = 4;|asim_conv_rand_noise_sigma = 1.0;|asim_linear_weight_bp = true;|asim_linear_act_enc = 2;|asim_linear_signed_act = false;|asim_linear_rand_noise_sigma = 1.0;"
     "w4a4compat|asim_conv_weight_bp = true;|asim_act_enc = 3;|asim_linear_weight_bp = true;|asim_linear_act_enc = 3;|asim_linear_signed_act = false;|asim_linear_rand_noise_sigma = 0.5;|compat = { wbp_linear_requantize = true; wbp_act_enc_wrap = true; };")
for e in "${ext[@]}"; do
  IFS='|' read -r -a parts <<<"$e"
  name=${parts[0]} bad=0
  for n in 1 2 3; do
    cfg="$TMP/ext-$name-$n.cfg" rep="$TMP/ext-$name-$n.h5"
    sets=()
    if [ $name = voting ]; then # given on the command line instead: --set key=value
      for l in "${parts[@]:1}"; do l=${l%;}; sets+=(--set "${l// = /=}"); done
      write_config "$cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck_10_3.h5" "$rep"
    else
      write_config "$cfg" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck_10_3.h5" "$rep" "${parts[@]:1}"
    fi
    # the compat group is written once; data.max_samples joins the data group
    sed -i 's/^data = { format = "folders"; };/data = { format = "folders"; max_samples = 6; };/' "$cfg"
    if ! out=$(timeout 600 $MPIRUN -n $n $BIN/asim-mpi "$cfg" --quiet "${sets[@]}" 2>&1); then
      echo "FAIL extension $name -n $n: asim-mpi failed:"; echo "$out" | sed 's/^/    /'; fail=1; bad=1; continue
    fi
    [ $name = plain ] && break
    if [ $n -gt 1 ] && ! same_results "$TMP/ext-$name-1.h5" "$rep"; then echo "FAIL extension $name: -n 1 and -n $n differ"; fail=1; bad=1; fi
  done
  # the extension is in effect: its results differ from the plain noise-free run
  if [ $bad = 0 ] && [ $name != plain ] && h5diff -q "$TMP/ext-plain-1.h5" "$TMP/ext-$name-1.h5" /samples/logits /samples/logits >/dev/null 2>&1; then
    echo "FAIL extension $name: logits equal the run without it"; fail=1; bad=1
  fi
  [ $bad = 0 ] && [ $name != plain ] && echo "ok   extension $name: -n 1..3 identical ($(grep -o 'Test Acc: [0-9.]*%' <<<"$out"))"
done
exit $fail
