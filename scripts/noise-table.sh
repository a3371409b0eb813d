#!/usr/bin/env bash
# The accuracy table of the README (issue 5): the QAT-only and the NAT model of models/ on the
# Fashion-MNIST test set, measured by asim-mpi itself:
#   * Inference mode (ASiM's integer path), all 10,000 test images;
#   * Simulation mode, nrow 255, ADC 8 and 6 bits (convs and classifier), noise-free, all 10,000;
#   * the same with rand_noise_sigma = non_linear_sigma in {0.25, 0.5, 1.0} % (all four noise keys
#     linked), 3 seeds (run.seed 1, 2, 3), on the first N test images (ASiM batches of 128).
# Each block is one asim-mpi sweep (sweep.link ties the keys); the reports stay in OUT.
# A second Simulation block repeats the noisy points with HCiM hybrid levels (EXTRA="--set
# asim_cnn_hybrid_levels=3" by default; EXTRA="" skips it).
# Usage (repository root): [BIN=build] scripts/noise-table.sh [N=2000] [RANKS=2] [OUT=out/noise-table]
set -euo pipefail
N=${1:-2000} RANKS=${2:-2} OUT=${3:-out/noise-table}
HYB=${HYB-3}
BIN=${BIN:-build} # the build folder (scripts/quickstart.sh builds build/)
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1
CFG=conf/fashion_resnet8.cfg
declare -A MODEL=([QAT]=models/fashion_resnet8_w8a8_qat.h5 [NAT]=models/fashion_resnet8_w8a8_nat.h5)
NOISE_KEYS=(asim_conv_rand_noise_sigma asim_conv_non_linear_sigma asim_linear_rand_noise_sigma asim_linear_non_linear_sigma)

# sweep_cfg FILE SIGMAS REPEATS: CFG with the ADC and noise sweep appended
sweep_cfg() {
  local f=$1 sig=$2 rep=$3 k link
  {
    cat "$CFG"
    echo "sweep = {"
    echo "  asim_conv_adc_prec = [8, 6]; asim_linear_adc_prec = [8, 6];"
    for k in "${NOISE_KEYS[@]}"; do echo "  $k = [$sig];"; done
    link=$(printf '"%s", ' "${NOISE_KEYS[@]}")
    echo "  link = ([\"asim_conv_adc_prec\", \"asim_linear_adc_prec\"], [${link%, }]);"
    echo "  repeats = $rep;"
    echo "};"
  } >"$f"
}
# run NAME MODEL ARGS...: one asim-mpi run into OUT/NAME.h5 (kept when complete: reruns skip it)
run() {
  local name=$1 m=$2
  shift 2
  if [ -f "$OUT/$name.h5" ] && h5dump -a /complete "$OUT/$name.h5" 2>/dev/null | grep -q '(0): 1'; then return; fi
  echo "== $name" >&2
  mpirun -n "$RANKS" --oversubscribe "$BIN/asim-mpi" "$@" --quiet --set "pretrain_model_path=\"${MODEL[$m]}\"" \
    --output "$OUT/$name.h5" >&2
}
sweep_cfg "$OUT/clean.cfg" "0.0" 1
sweep_cfg "$OUT/noisy.cfg" "0.25, 0.5, 1.0" 3
for m in QAT NAT; do
  run "$m-inference" $m "$CFG" --set asim_conv_mode=Inference --set asim_linear_mode=Inference
  run "$m-clean" $m "$OUT/clean.cfg"
  run "$m-noisy" $m "$OUT/noisy.cfg" --set data.max_samples="$N"
  [ -z "$HYB" ] || run "$m-noisy-hyb$HYB" $m "$OUT/noisy.cfg" --set data.max_samples="$N" --set asim_cnn_hybrid_levels="$HYB"
done

# the markdown table: one row per point, QAT and NAT side by side (mean ± sample std over seeds)
/usr/bin/python3 - "$OUT" "$HYB" <<'EOF' | tee "$OUT/table.md"
import sys, h5py, numpy as np
out, hyb = sys.argv[1], sys.argv[2]
def load(name):
    with h5py.File("%s/%s.h5" % (out, name), "r") as f:
        n = int(f["samples/index"].shape[0])
        if "sweep" not in f:
            return [((), np.array([float(f["summary"].attrs["top1"])]), n)]
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["sweep/keys"][()]]
        pts, top1 = f["sweep/points"][()], np.atleast_2d(f["sweep/top1"][()])
        return [({k: pts[i, j] for j, k in enumerate(keys)}, top1[i], n) for i in range(pts.shape[0])]
def cell(t):
    t = 100.0 * t
    return "%.2f" % t[0] if len(t) == 1 else "%.2f ± %.2f" % (t.mean(), t.std(ddof=1))
print("| macro | ADC bits | σ (rand = non-linear, %) | test images | seeds | QAT-only top-1 % | NAT top-1 % | NAT − QAT |")
print("|---|---|---|---|---|---|---|---|")
blocks = [("inference", "Inference (integer)"), ("clean", "bit-serial"), ("noisy", "bit-serial")]
if hyb:
    blocks.append(("noisy-hyb" + hyb, "bit-serial, hybrid_levels %s" % hyb))
for blk, macro in blocks:
    for (p, q, n), (_, a, _) in zip(load("QAT-" + blk), load("NAT-" + blk)):
        adc = "—" if not p else "%d" % p["asim_conv_adc_prec"]
        sig = "—" if not p else "%g" % p["asim_conv_rand_noise_sigma"]
        print("| %s | %s | %s | %d | %d | %s | %s | %+.2f |" % (macro, adc, sig, n, len(q), cell(q), cell(a),
                                                               100.0 * (a.mean() - q.mean())))
EOF
