#!/usr/bin/env bash
# Runs asim-layer on every whole-model case (model_*.h5) of a reference folder, listed when the
# test runs. Each case rebuilds the network from its own checkpoint and checks every stored run.
set -u
tool=$1
dir=$2
shopt -s nullglob
cases=("$dir"/model_*.h5)
cases=("${cases[@]/*_weights.h5/}")
list=()
for c in "${cases[@]}"; do [ -n "$c" ] && list+=("$c"); done
if [ ${#list[@]} -eq 0 ]; then
  echo "no model cases in $dir" >&2
  exit 1
fi
echo "reference folder: $dir (${#list[@]} model cases)"
exec "$tool" "${list[@]}"
