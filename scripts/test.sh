#!/usr/bin/env bash
# Runs the whole test suite: installs packages if missing, builds in build/, runs ctest.
# Extra arguments go to ctest (e.g. -R golden).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
