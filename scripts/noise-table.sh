#!/usr/bin/env bash
# The accuracy table of docs/training.md: the QAT-only and the NAT model of models/ on the
# Fashion-MNIST test set, in Inference mode (all 10,000 images) and in Simulation mode (nrow 255)
# with ADC 8 and 6 bits, without noise and with rand_noise_sigma = non_linear_sigma in
# {0.25, 0.5, 1.0} % for 3 seeds, on the first N test images (batches of test_bs = 128
# consecutive samples, as ASiM). Measured by asim-eval (the library's asim_model_forward).
# Usage: scripts/noise-table.sh [N=500] [RANKS=2] [OUT=out/noise-table]   (from the repository root)
set -euo pipefail
N=${1:-500} RANKS=${2:-2} OUT=${3:-out/noise-table}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
: "${OPENBLAS_CORETYPE:=SkylakeX}"; export OPENBLAS_CORETYPE
cfg=conf/fashion_resnet8.cfg
declare -A model=([QAT]=models/fashion_resnet8_w8a8_qat.h5 [NAT]=models/fashion_resnet8_w8a8_nat.h5)
ev() { # label, model, samples, seeds, sets...
  local label=$1 m=$2 n=$3 seeds=$4; shift 4
  local f="$OUT/$label.tsv"
  if [ -s "$f" ] && grep -q "^summary" "$f"; then return; fi   # done in an earlier (interrupted) run
  mpirun -n "$RANKS" --oversubscribe build/asim-eval "$cfg" --checkpoint "${model[$m]}" --label "$label" \
    --samples "$n" --seeds "$seeds" --set "pretrain_model_path=${model[$m]}" \
    --set asim_conv_trim_noise=0 --set asim_linear_trim_noise=0 "$@" > "$f.part"
  mv "$f.part" "$f"
  grep "^summary" "$f"
}
noise() { echo --set asim_conv_rand_noise_sigma=$1 --set asim_conv_non_linear_sigma=$1 \
               --set asim_linear_rand_noise_sigma=$1 --set asim_linear_non_linear_sigma=$1; }
for m in QAT NAT; do
  ev "$m-inference" $m 0 1 --set asim_conv_mode=Inference --set asim_linear_mode=Inference
  for adc in 8 6; do
    ev "$m-sim-adc$adc-s0" $m "$N" 1 --set asim_conv_adc_prec=$adc --set asim_linear_adc_prec=$adc
  done
done
for s in 0.25 0.5 1.0; do
  for adc in 8 6; do
    for m in QAT NAT; do
      ev "$m-sim-adc$adc-s$s" $m "$N" 1,2,3 --set asim_conv_adc_prec=$adc --set asim_linear_adc_prec=$adc $(noise $s)
    done
  done
done
# markdown: one row per point, QAT and NAT side by side (mean ± std over the seeds, [min, max])
{
  echo "| mode | ADC bits | σ (rand = non-linear) % | test images | seeds | QAT-only | NAT | NAT − QAT |"
  echo "|---|---|---|---|---|---|---|---|"
  row() { # label-suffix, mode, adc, sigma
    local q n; q=$(grep "^summary" "$OUT/QAT-$1.tsv"); n=$(grep "^summary" "$OUT/NAT-$1.tsv")
    awk -F'\t' -v q="$q" -v n="$n" -v mode="$2" -v adc="$3" -v sg="$4" 'BEGIN {
      split(q, a, "\t"); split(n, b, "\t");
      fmt = (a[4] > 1) ? "%.2f ± %.2f [%.2f, %.2f]" : "%.2f";
      qs = sprintf(fmt, a[5], a[6], a[7], a[8]); ns = sprintf(fmt, b[5], b[6], b[7], b[8]);
      printf "| %s | %s | %s | %d | %d | %s | %s | %+.2f |\n", mode, adc, sg, a[3], a[4], qs, ns, b[5] - a[5] }'
  }
  row inference Inference "—" "—"
  for adc in 8 6; do row "sim-adc$adc-s0" Simulation $adc 0; done
  for s in 0.25 0.5 1.0; do for adc in 8 6; do row "sim-adc$adc-s$s" Simulation $adc $s; done; done
} > "$OUT/table.md"
cat "$OUT/table.md"
