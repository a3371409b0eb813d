#!/bin/sh
# Builds the libFuzzer harness (clang + compiler-rt: apt-get install clang libclang-rt-14-dev).
# Usage: tests/fuzz/build.sh [OUTDIR]   (default build-fuzz)
set -e
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-fuzz}
mkdir -p "$out"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -D_GNU_SOURCE -std=gnu11 -I"$src/include" \
  "$src/tests/fuzz/fuzz_pkl.c" "$src/src/io/pkl.c" "$src/src/core/error.c" "$src/src/core/tensor.c" \
  -lz -lm -o "$out/fuzz_pkl"
echo "built $out/fuzz_pkl"
