#!/usr/bin/env bash
# Runs asim-layer on every layer case (*.h5 except model_*) of a reference folder and of its
# ext/ subfolder (ASiM's extension modules); the folders are listed when the test runs, so new
# cases are picked up without rebuilding.
set -u
tool=$1
dir=$2
shopt -s nullglob
cases=()
for f in "$dir"/*.h5 "$dir"/ext/*.h5; do
  case "$(basename "$f")" in model_*) continue ;; esac
  cases+=("$f")
done
if [ ${#cases[@]} -eq 0 ]; then
  echo "no layer cases in $dir" >&2
  exit 1
fi
echo "reference folder: $dir (${#cases[@]} layer cases)"
"$tool" "${cases[@]}"
rc=$?
exit $rc
