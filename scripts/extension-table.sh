#!/usr/bin/env bash
# The README's extension table (issue 8): the shipped NAT ResNet-8 on the first N Fashion-MNIST
# test images with each of ASiM's extensions on its convs and classifier, at two noise levels,
# measured by asim-mpi (one sweep per row: the noise keys linked, 2 seeds each):
#   base            bit-serial, rand_noise_sigma = non_linear_sigma = s
#   voting k        majority voting, voting_levels 3, num_samp k (k = 3, 5), same noise
#   current domain  gain compression alpha 0.001 + cell variation 1 %, rand_noise_sigma = s
#   weight bp       weight bit-parallel with act_enc 4 (one signed conversion per output and load
#                   sum), rand_noise_sigma = s
# Usage (repository root): [BIN=build] scripts/extension-table.sh [N=500] [RANKS=2] [OUT=out/extension-table]
set -euo pipefail
N=${1:-500} RANKS=${2:-2} OUT=${3:-out/extension-table}
SIGMAS=${SIGMAS:-"0.25, 0.5"}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1
CFG=conf/fashion_resnet8.cfg

# row NAME NOISE_KEYS SETTINGS...: one sweep over SIGMAS (NOISE_KEYS linked), 2 repeats
row() {
  local name=$1 keys=$2 k link=""
  shift 2
  if [ -f "$OUT/$name.h5" ] && h5dump -a /complete "$OUT/$name.h5" 2>/dev/null | grep -q '(0): 1'; then return; fi
  {
    cat "$CFG"
    echo "sweep = {"
    for k in $keys; do echo "  $k = [$SIGMAS];"; link="$link\"$k\", "; done
    [ "$(wc -w <<<"$keys")" -gt 1 ] && echo "  link = [${link%, }];"
    echo "  repeats = 2;"
    echo "};"
  } >"$OUT/$name.cfg"
  echo "== $name" >&2
  mpirun -n "$RANKS" --oversubscribe "${BIN:-build}/asim-mpi" "$OUT/$name.cfg" --quiet --set data.max_samples="$N" "$@" \
    --output "$OUT/$name.h5" >&2
}
both() { # KEY=VALUE for the conv and the classifier group
  echo --set "asim_conv_$1" --set "asim_linear_$1"
}
RN="asim_conv_rand_noise_sigma asim_linear_rand_noise_sigma"
RNL="$RN asim_conv_non_linear_sigma asim_linear_non_linear_sigma"
# shellcheck disable=SC2046
{
  row base "$RNL"
  row voting3 "$RNL" $(both voting_levels=3) $(both num_samp=3)
  row voting5 "$RNL" $(both voting_levels=3) $(both num_samp=5)
  row current_domain "$RN" $(both non_linear_alpha=0.001) $(both weight_var=1.0)
  row weight_bp "$RN" --set asim_act_enc=4 --set asim_linear_act_enc=4 $(both weight_bp=true)
}

/usr/bin/python3 - "$OUT" <<'EOF' | tee "$OUT/table.md"
import sys, h5py, numpy as np
out = sys.argv[1]
rows = [("base", "none (ASiM's bit-serial macro)", "σ_r = σ_nl = σ"),
        ("voting3", "majority voting, 3 votes on the top 3 cycle levels", "σ_r = σ_nl = σ"),
        ("voting5", "majority voting, 5 votes on the top 3 cycle levels", "σ_r = σ_nl = σ"),
        ("current_domain", "current domain: α = 0.001, cell variation 1 %", "σ_r = σ (no σ_nl)"),
        ("weight_bp", "weight bit-parallel, act_enc 4 (one signed conversion)", "σ_r = σ (no σ_nl)")]
with h5py.File("%s/base.h5" % out, "r") as f:
    n = f["samples/index"].shape[0]
    sig = f["sweep/points"][:, 0]
print("| extension (convs and classifier) | noise | " + " | ".join("σ = %g %%" % s for s in sig) + " |")
print("|---|---|" + "---|" * len(sig))
for name, what, noise in rows:
    with h5py.File("%s/%s.h5" % (out, name), "r") as f:
        t = 100.0 * np.atleast_2d(f["sweep/top1"][()])
    print("| %s | %s | %s |" % (what, noise, " | ".join("%.1f ± %.1f" % (r.mean(), r.std(ddof=1)) for r in t)))
print("\n%d test images, top-1 %% (mean ± sample std over seeds 1, 2), W8A8, nrow 255, ADC 8 bits." % n)
EOF
