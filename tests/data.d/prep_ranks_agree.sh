#!/usr/bin/env bash
# asim-prep under mpirun -n 1 and -n 3 writes identical HDF5 datasets (h5diff: data and
# attributes), for a class-folder PNG set of mixed sizes (resized) and Fashion-MNIST.
# Usage: prep_ranks_agree.sh ASIM_PREP MPIEXEC
set -euo pipefail
prep=$1 mpiexec=$2
py=/usr/bin/python3
if ! $py -c 'import PIL, numpy' 2>/dev/null; then
  echo "SKIP: $py with PIL and numpy is needed to write the test images"; exit 77
fi
tmp=$(mktemp -d /tmp/asim-prep-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_pml=ob1
mpi() { local n=$1; shift; timeout 120 "$mpiexec" -n "$n" --allow-run-as-root --oversubscribe "$@"; }

$py - "$tmp/pngset" <<'PY'
import sys, os, numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(0)
for c, cls in enumerate(['airplane', 'automobile', 'bird']):
    os.makedirs(os.path.join(root, cls))
    for j in range(7):
        w, h = int(rng.integers(20, 60)), int(rng.integers(20, 60))
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(a).save(os.path.join(root, cls, '%04d.png' % j))
PY

for n in 1 3; do
  mpi $n "$prep" --task CIFAR-10 --input-size 40 "$tmp/pngset" "$tmp/png_n$n.h5"
done
h5diff "$tmp/png_n1.h5" "$tmp/png_n3.h5"
echo "png set: -n 1 and -n 3 identical"

fm=/usr/share/datasets/fashion-mnist
if [ -r $fm/t10k-images-idx3-ubyte.gz ]; then
  for n in 1 3; do
    mpi $n "$prep" --quiet --format idx --task Fashion-MNIST --input-size 32 --channels 3 $fm "$tmp/fm_n$n.h5"
  done
  h5diff "$tmp/fm_n1.h5" "$tmp/fm_n3.h5"
  echo "fashion-mnist: -n 1 and -n 3 identical"
fi

# the packed file reads back as the same samples (h5py), resized flag set
$py - "$tmp/png_n3.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], 'r')
assert f['images'].shape == (21, 40, 40, 3), f['images'].shape
assert list(f['labels'][:]) == [0] * 7 + [1] * 7 + [2] * 7
assert f['names'][0] == b'airplane/0000.png' and f['names'][20] == b'bird/0006.png'
assert f.attrs['task'] == b'CIFAR-10' and f.attrs['classes'] == 10 and f.attrs['resized'] == 1
assert f.attrs['format_version'] == 1
print('layout ok')
PY
echo "1 passed, 0 failed"
