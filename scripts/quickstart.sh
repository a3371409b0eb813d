#!/usr/bin/env bash
# README's first command: set up a fresh Debian machine, build in Release, and run a real bit-wise
# simulation: the shipped NAT ResNet-8 (models/, trained by asim-train) on the whole Fashion-MNIST
# test set (Debian package dataset-fashion-mnist: 10,000 images), ASiM's default macro (W8A8,
# bit-serial, nrow 255, ADC 8 bits, noise off); about a minute on 2 cores. Prints ASiM's
# accuracy line and writes out/fashion_resnet8.h5 (docs: README "The report").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
echo "built: $(ls build/asim-* | tr '\n' ' ')"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
mpirun -n "$(nproc)" --oversubscribe build/asim-mpi conf/fashion_resnet8.cfg --output out/fashion_resnet8.h5
