#!/usr/bin/env bash
# A catalogue of bad inputs: each must end `mpirun -n 2 asim-mpi` with a non-zero status and a
# clear message within the timeout — never a crash, never a hang.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" 6 || exit 1
$BIN/asim-init ResNet-18 "$TMP/ck.h5" --classes 10 --size 8 || exit 1
$BIN/asim-init VGG11 "$TMP/vgg.h5" --classes 10 --size 8 || exit 1
$BIN/asim-init ResNet-18 "$TMP/ck1.h5" --classes 10 --size 8 --channels 1 || exit 1
head -c 100000 "$TMP/ck.h5" >"$TMP/trunc.h5"
good="$TMP/good.cfg"
write_config "$good" CIFAR-10 "$TMP/data/cifar10_png" folders 10 "$TMP/ck.h5" "$TMP/out.h5"
n=0
# expect NAME FRAGMENT CMD...: non-zero exit, FRAGMENT in the output, within 60 s
expect() {
  local name=$1 frag=$2 out rc
  shift 2
  n=$((n + 1))
  out=$(timeout 60 "$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -ge 128 ] || ! grep -qi -- "$frag" <<<"$out"; then
    echo "FAIL $name: exit $rc (expected a clean non-zero exit mentioning '$frag'):"
    echo "$out" | head -8 | sed 's/^/    /'
    fail=1
  else
    echo "ok   $name (exit $rc): $(grep -i -m1 -- "$frag" <<<"$out" | cut -c1-140)"
  fi
}
RUN="$MPIRUN -n 2 $BIN/asim-mpi"

expect "missing config file"        "cannot open\|No such"        $RUN "$TMP/nope.cfg"
printf 'task = "CIFAR-10"\nmodel_name = ;\n' >"$TMP/syntax.cfg"
expect "syntax error with line"      "syntax.cfg:2"                $RUN "$TMP/syntax.cfg"
expect "unknown key"                 "asim_conv_adc_precc"         $RUN "$good" --set asim_conv_adc_precc=6
expect "adc_prec out of range"       "asim_conv_adc_prec"          $RUN "$good" --set asim_conv_adc_prec=0
expect "wbit out of range"           "asim_conv_wbit"              $RUN "$good" --set asim_conv_wbit=1
expect "act_enc > xbit"              "asim_act_enc"                $RUN "$good" --set asim_act_enc=9
expect "bad --set syntax"            "--set"                       $RUN "$good" --set asim_conv_nrow
expect "wrong type"                  "asim_conv_nrow"              $RUN "$good" --set 'asim_conv_nrow="many"'
expect "cls_num vs task"             "cls_num"                     $RUN "$good" --set cls_num=100
expect "missing dataset folder"      "$TMP/data/none"              $RUN "$good" --set "test_dir=\"$TMP/data/none\""
mkdir -p "$TMP/empty"
expect "empty dataset folder"        "$TMP/empty"                  $RUN "$good" --set "test_dir=\"$TMP/empty\""
printf 'x' >"$TMP/data/cifar10_png/zz_stray.txt"; mkdir -p "$TMP/data/strayroot/cat" "$TMP/data/strayroot/dog"
cp "$TMP"/data/cifar10_png/cat/*.png "$TMP/data/strayroot/cat/"; cp "$TMP"/data/cifar10_png/dog/*.png "$TMP/data/strayroot/dog/"
touch "$TMP/data/strayroot/a_stray_file"
expect "stray file would shift labels" "a_stray_file"              $RUN "$good" --set "test_dir=\"$TMP/data/strayroot\"" --set compat.label_index_counts_files=false
mkdir -p "$TMP/data/badidx"; printf 'garbage' | gzip >"$TMP/data/badidx/t10k-images-idx3-ubyte.gz"; cp "$TMP/data/fmnist_idx/t10k-labels-idx1-ubyte.gz" "$TMP/data/badidx/"
expect "corrupt IDX file"            "t10k-images"                 $RUN "$good" --set 'task="Fashion-MNIST"' --set "test_dir=\"$TMP/data/badidx\"" --set 'data.format="idx"' --set "pretrain_model_path=\"$TMP/ck1.h5\""
mkdir -p "$TMP/data/corrupt/cat"
head -c 60 "$(ls "$TMP"/data/cifar10_png/cat/*.png | head -1)" >"$TMP/data/corrupt/cat/broken.png"
expect "corrupt PNG"                 "broken.png"                  $RUN "$good" --set "test_dir=\"$TMP/data/corrupt\""
expect "missing checkpoint"          "$TMP/none.h5"                $RUN "$good" --set "pretrain_model_path=\"$TMP/none.h5\""
expect "truncated checkpoint"        "trunc.h5"                    $RUN "$good" --set "pretrain_model_path=\"$TMP/trunc.h5\""
expect "checkpoint of another model" "checkpoint"                  $RUN "$good" --set "pretrain_model_path=\"$TMP/vgg.h5\""
echo "not a checkpoint" >"$TMP/text.pkl"
expect "checkpoint not a checkpoint" "text.pkl"                    $RUN "$good" --set "pretrain_model_path=\"$TMP/text.pkl\""
expect "unwritable report directory" "/proc/asim-no"              $RUN "$good" --output "/proc/asim-no/r.h5"
# the report's folder is created when missing (out/ in a fresh clone)
if $RUN "$good" --output "$TMP/new/sub/r.h5" >/dev/null 2>&1 && [ -f "$TMP/new/sub/r.h5" ]; then
  echo "ok   report in a folder that did not exist: created"
else
  echo "FAIL: asim-mpi did not create the report's missing folder $TMP/new/sub"
  fail=1
fi
expect "resume without a report"     "does not exist"              $RUN "$good" --resume --output "$TMP/never.h5"
$MPIRUN -n 2 $BIN/asim-mpi "$good" --quiet --output "$TMP/done.h5" >/dev/null 2>&1
expect "resume with another config"  "different configuration"    $RUN "$good" --resume --output "$TMP/done.h5" --set run.seed=99
expect "ViT input not a patch multiple" "patch"                    $RUN "$good" --set 'model_name="ViT-B-32"' --set input_size=40
expect "training config"             "asim-train"                  $RUN "$good" --set 'run.job="train"'
expect "--group not dividing ranks"  "--group"                     $RUN "$good" --group 3
expect "unknown option"              "unknown"                     $RUN "$good" --frobnicate
expect "--group not a number"        "--group"                     $RUN "$good" --group x
echo "$n bad inputs checked"
exit $fail
