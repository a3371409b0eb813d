#!/usr/bin/env bash
# README's first command: set up a fresh Debian machine, build in Release, run a simulation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
echo "built: $(ls build/asim-* | tr '\n' ' ')"
# A bit-wise simulation of an ASiM layer from the vendored reference cases (the full
# network demo arrives with the simulation driver).
./build/asim-layer tests/golden/conv_sim_w8a8_k3s1p1_c64_nrow255.h5 tests/golden/noise_conv_w8a8_k3_c32_r0.5_n1.0.h5
