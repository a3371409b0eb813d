#!/usr/bin/env bash
# Builds asim-mpi in Release into build-bench/ and measures the CiM engine on this machine:
# the popcount roofline and the macro kernels, one ResNet layer against PyTorch's bit-plane
# convolution (when /usr/bin/python3 has torch), and whole models (ResNet-18 CIFAR-10 and ImageNet,
# ViT-B/32) in one process and in one process per core. Writes bench/RESULTS.md.
#
#   bench/run.sh [--quick] [--procs N] [--only SUBSTR]      (default: --procs = number of cores)
#
# Takes ~10 minutes in full (--quick: ~2). Other processes on the machine lower the wall-clock
# figures; RESULTS.md records the load average and the CPU-time rates as well.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2) # not nproc: it honours OMP_NUM_THREADS
jobs=$cores
[ "$jobs" -gt 2 ] && jobs=2

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DASIM_NATIVE=ON -DASIM_SANITIZE=OFF > "$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log"; exit 1; }
cmake --build "$build" -j"$jobs" --target asim-bench > "$build/build.log" 2>&1 || { tail -30 "$build/build.log"; exit 1; }

# One BLAS thread per process; OpenBLAS 0.3.21 does not recognise this CPU and would pick its slow
# Prescott kernels for the float layers (stem conv, ViT patch embedding).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}

args=("$@")
have_procs=0
for a in "$@"; do [ "$a" = "--procs" ] && have_procs=1; done
[ $have_procs -eq 0 ] && args+=(--procs "$cores")

torch_out=$(mktemp)
trap 'rm -f "$torch_out"' EXIT
if /usr/bin/python3 -c 'import torch' > /dev/null 2>&1; then
  echo "bench: PyTorch baseline ..." >&2
  quick=0
  for a in "$@"; do [ "$a" = "--quick" ] && quick=1; done
  if [ $quick -eq 1 ]; then
    /usr/bin/python3 "$root/bench/torch_bitplane_conv.py" --batch 8 --reps 1 > "$torch_out"
  else
    /usr/bin/python3 "$root/bench/torch_bitplane_conv.py" --batch 16 --reps 3 > "$torch_out"
  fi
  args+=(--torch "$torch_out")
fi

"$build/asim-bench" --md "$root/bench/RESULTS.md" "${args[@]}"
echo "bench: wrote $root/bench/RESULTS.md" >&2
