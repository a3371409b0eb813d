# Shared by the driver test scripts: tools, MPI as root, tiny datasets and checkpoints.
set -u
BIN=$1            # build directory with asim-mpi, asim-init, asim-prep
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OPENBLAS_NUM_THREADS=1
MPIRUN="mpirun --oversubscribe"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# write_config FILE TASK TESTDIR FORMAT CLASSES CKPT REPORT [extra lines...]
write_config() {
  local f=$1 task=$2 dir=$3 fmt=$4 cls=$5 ckpt=$6 rep=$7
  shift 7
  {
    echo "task = \"$task\";"
    echo "model_name = \"ResNet-18\";"
    echo "input_size = 8;"
    echo "cls_num = $cls;"
    echo "test_dir = \"$dir\";"
    echo "pretrain_model_path = \"$ckpt\";"
    echo "test_bs = ${TEST_BS:-5};"
    echo "asim_conv_mode = \"Simulation\";"
    echo "asim_linear_mode = \"Simulation\";"
    echo "data = { format = \"$fmt\"; };"
    echo "report = { path = \"$rep\"; };"
    echo "run = { seed = 11; };"
    for l in "$@"; do echo "$l"; done
  } >"$f"
}

# same_results A.h5 B.h5: every per-sample dataset and the confusion matrix are identical
same_results() {
  local d
  for d in /samples/index /samples/label /samples/pred /samples/top5 /samples/logits /summary/confusion; do
    # logits are optional (written for at most 100 classes): then both files lack them
    if ! h5ls "$1$d" >/dev/null 2>&1 && ! h5ls "$2$d" >/dev/null 2>&1; then continue; fi
    if ! h5diff -q "$1" "$2" "$d" "$d" >/dev/null 2>&1; then
      echo "  $d differs between $(basename "$1") and $(basename "$2")"
      h5diff -r "$1" "$2" "$d" "$d" 2>&1 | head -5
      return 1
    fi
  done
  return 0
}
