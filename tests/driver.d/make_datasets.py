#!/usr/bin/python3
"""Writes tiny datasets in every format asim-mpi reads, for the driver tests.
usage: make_datasets.py OUTDIR N"""
import gzip, os, struct, sys
import numpy as np
from PIL import Image

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
os.makedirs(out, exist_ok=True)

def img(h, w, c=3):
    return rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)

# CIFAR-10 PNG class folders (ASiM layout): root/<class>/*.png
root = os.path.join(out, "cifar10_png")
classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
for i in range(n):
    d = os.path.join(root, classes[i % 10]); os.makedirs(d, exist_ok=True)
    Image.fromarray(img(32, 32)).save(os.path.join(d, "img%04d.png" % i))
# ImageNet JPEG class folders (different sizes, resized by the test transform)
root = os.path.join(out, "imagenet_jpeg")
for i in range(n):
    d = os.path.join(root, "n%08d" % (1440764 + i % 3)); os.makedirs(d, exist_ok=True)
    Image.fromarray(img(40 + i % 7, 50 + i % 5)).save(os.path.join(d, "ILSVRC_%04d.JPEG" % i), quality=90)
# CIFAR-10 binary: test_batch.bin records of 1 label byte + 3072 pixel bytes (CHW)
root = os.path.join(out, "cifar10_bin"); os.makedirs(root, exist_ok=True)
with open(os.path.join(root, "test_batch.bin"), "wb") as f:
    for i in range(n):
        f.write(bytes([i % 10])); f.write(img(32, 32).transpose(2, 0, 1).tobytes())
# CIFAR-100 images + csv
root = os.path.join(out, "cifar100"); os.makedirs(os.path.join(root, "test_images"), exist_ok=True)
with open(os.path.join(root, "test.csv"), "w") as f:
    f.write("image_id,fine_labels\n")
    for i in range(n):
        name = "test_%05d.jpg" % i
        Image.fromarray(img(32, 32)).save(os.path.join(root, "test_images", name), quality=95)
        f.write("%s,%d\n" % (name, (i * 7) % 100))
open(os.path.join(root, "train.csv"), "w").write("image_id,fine_labels\n")
# Fashion-MNIST-style IDX, gzipped
root = os.path.join(out, "fmnist_idx"); os.makedirs(root, exist_ok=True)
ims = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
with gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(ims.tobytes())
with gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n)); f.write(bytes([i % 10 for i in range(n)]))
