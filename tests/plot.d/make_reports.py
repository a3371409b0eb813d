#!/usr/bin/python3
"""Synthetic asim-mpi reports and asim-train histories in the documented schemas, for the
asim-plot test (and for looking at the figures without running a sweep).
usage: make_reports.py OUTDIR
  plain.h5      a simulation: /summary/confusion (CIFAR-10) + one-point /diagnostics
  sweep.h5      adc_prec {3,4,5,6,8} x noise sigma {0, 2} x 3 repeats, /sweep/confusion, diagnostics per point
  sweep_enum.h5 an enum key (asim_conv_mode, labels_...) x adc_prec, 1 repeat, no /summary
  history.h5    asim-train's history.h5 (top-level 1-D datasets)
  ckpt.h5       a checkpoint-style file with a /history group (no learning rate)
  c100.h5       a 100-class simulation (no tick labels, no numbers in the cells)
  empty.h5      nothing to plot"""
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
C = 10
LAYERS = ["layer%d.%d.conv%d" % (l, b, c) for l in range(1, 5) for b in range(2) for c in (1, 2)] + ["fc"]


def strings(g, name, values, size=64):
    g.create_dataset(name, data=np.array([v.encode() for v in values], dtype="S%d" % size))


def root_attrs(f, complete=1):
    f.attrs["model_name"] = np.bytes_("ResNet-18")
    f.attrs["task"] = np.bytes_("CIFAR-10")
    f.attrs["complete"] = np.int64(complete)
    f.attrs["nranks"] = np.int64(2)


def confusion(acc, n):
    """A confusion matrix of n samples with about `acc` on the diagonal."""
    cm = np.zeros((C, C), dtype=np.int64)
    labels = rng.integers(0, C, n)
    for t in labels:
        p = t if rng.random() < acc else (t + rng.choice([1, 2, 3, C - 1])) % C
        cm[t, p] += 1
    return cm


def diagnostics(f, adc, sigma):
    """(npoints, L) per-layer statistics that behave plausibly with ADC bits and noise."""
    adc, sigma = np.atleast_1d(adc).astype(float), np.atleast_1d(sigma).astype(float)
    L = len(LAYERS)
    depth = np.linspace(0.0, 1.0, L)
    clip = np.clip(0.5 * np.exp(-(adc[:, None] - 3)) * (0.5 + depth) + 0.01 * sigma[:, None], 0, 1)
    mean_err = (2.0 ** -adc[:, None]) * (1 + 3 * depth) * (1 + sigma[:, None])
    max_err = mean_err * (6 + 4 * rng.random((len(adc), L)))
    sqnr = 6.02 * adc[:, None] + 1.76 - 8 * depth - 3 * sigma[:, None]
    g = f.create_group("diagnostics")
    strings(g, "layer_names", LAYERS)
    for name, v in (("clip_fraction", clip), ("mean_abs_err", mean_err), ("max_abs_err", max_err), ("sqnr_db", sqnr)):
        g.create_dataset(name, data=v.astype(np.float64))
    return g


# ---- a plain simulation ----
with h5py.File(os.path.join(out, "plain.h5"), "w") as f:
    root_attrs(f)
    cm = confusion(0.82, 500)
    s = f.create_group("summary")
    s.create_dataset("confusion", data=cm)
    s.attrs["top1"] = np.trace(cm) / cm.sum()
    s.attrs["top5"] = 0.97
    s.attrs["n_samples"] = np.int64(cm.sum())
    g = diagnostics(f, [6], [0.0])
    sq = g["sqnr_db"][()]
    sq[0, -1] = np.inf  # an error-free layer
    g["sqnr_db"][...] = sq

# ---- a sweep: adc_prec x sigma, 3 repeats ----
adcs, sigmas, R = [3, 4, 5, 6, 8], [0.0, 2.0], 3
pts = np.array([(a, s) for a in adcs for s in sigmas], dtype=np.float64)  # first key slowest
P = len(pts)
base = 0.88 - 0.7 * np.exp(-(pts[:, 0] - 2.2)) - 0.04 * pts[:, 1]
top1 = np.clip(base[:, None] + rng.normal(0, 0.004 + 0.01 * pts[:, 1:2], (P, R)) * (pts[:, 1:2] > 0), 0, 1)
top1[pts[:, 1] == 0] = base[pts[:, 1] == 0, None]  # noiseless points: repeats agree exactly
top5 = np.clip(top1 + 0.1 + 0.05 * (1 - top1), 0, 1)
with h5py.File(os.path.join(out, "sweep.h5"), "w") as f:
    root_attrs(f)
    s = f.create_group("sweep")
    s.attrs["repeats"] = np.int64(R)
    strings(s, "keys", ["asim_conv_adc_prec", "asim_conv_rand_noise_sigma"])
    s.create_dataset("points", data=pts)
    s.create_dataset("top1", data=top1)
    s.create_dataset("top5", data=top5)
    for name, a in (("top1", top1), ("top5", top5)):
        s.create_dataset(name + "_mean", data=a.mean(axis=1))
        s.create_dataset(name + "_std", data=a.std(axis=1, ddof=1))
    s.create_dataset("confusion", data=np.array([[confusion(top1[p, r], 200) for r in range(R)] for p in range(P)]))
    diagnostics(f, pts[:, 0], pts[:, 1])

# ---- an enum key (labels_...) x a numeric key, 1 repeat ----
pts = np.array([(m, a) for m in (0, 1) for a in (4, 6, 8)], dtype=np.float64)
acc = np.where(pts[:, 0] == 0, 0.85, 0.85 - 0.5 * np.exp(-(pts[:, 1] - 3)))[:, None]
with h5py.File(os.path.join(out, "sweep_enum.h5"), "w") as f:
    root_attrs(f)
    s = f.create_group("sweep")
    s.attrs["repeats"] = np.int64(1)
    s.attrs["labels_asim_conv_mode"] = np.bytes_("Inference,Simulation")
    strings(s, "keys", ["asim_conv_mode", "asim_conv_adc_prec"])
    s.create_dataset("points", data=pts)
    s.create_dataset("top1", data=acc)
    s.create_dataset("top5", data=np.minimum(acc + 0.1, 1.0))
    for name, a in (("top1", acc), ("top5", np.minimum(acc + 0.1, 1.0))):
        s.create_dataset(name + "_mean", data=a[:, 0])
        s.create_dataset(name + "_std", data=np.zeros(len(pts)))

# ---- asim-train's history.h5: top-level float32 datasets, 0-based epochs ----
E, steps = 30, 40
ep = np.arange(E, dtype=np.float32)
lr = np.where(ep < 18, 0.01, np.where(ep < 27, 0.001, 0.0001)).astype(np.float32)
tl = (2.3 * np.exp(-ep / 6) + 0.25 + 0.02 * rng.random(E)).astype(np.float32)
tl[18:] -= 0.12
vl = (tl + 0.1 + 0.05 * rng.random(E)).astype(np.float32)
ta = np.clip(1 - tl / 2.6, 0, 1).astype(np.float32)
va = np.clip(ta - 0.03 - 0.02 * rng.random(E), 0, 1).astype(np.float32)
step_loss = np.repeat(tl, steps) + 0.15 * rng.standard_normal(E * steps).astype(np.float32)
with h5py.File(os.path.join(out, "history.h5"), "w") as f:
    for name, v in (("epoch", ep), ("lr", lr), ("train_loss", tl), ("train_acc", ta), ("valid_loss", vl),
                    ("valid_acc", va), ("seconds", np.full(E, 12.5, np.float32)),
                    ("images_per_s", np.full(E, 4000, np.float32)), ("step_loss", step_loss.astype(np.float32)),
                    ("step_lr", np.repeat(lr, steps))):
        f.create_dataset(name, data=v)
    f.attrs["model_name"] = np.bytes_("ResNet-8")

# ---- a checkpoint with a /history group (and no learning rate) ----
with h5py.File(os.path.join(out, "ckpt.h5"), "w") as f:
    h = f.create_group("history")
    for name, v in (("epoch", ep[:5] + 1), ("train_loss", tl[:5]), ("valid_acc", va[:5])):
        h.create_dataset(name, data=v)
    f.create_group("model").create_dataset("fc.weight", data=np.zeros((10, 4), np.float32))

# ---- 100 classes ----
with h5py.File(os.path.join(out, "c100.h5"), "w") as f:
    f.attrs["model_name"] = np.bytes_("ResNet-18")
    f.attrs["task"] = np.bytes_("CIFAR-100")
    f.attrs["complete"] = np.int64(1)
    lab = np.repeat(np.arange(100), 10)
    pred = np.where(rng.random(lab.size) < 0.6, lab, rng.integers(0, 100, lab.size))
    cm = np.zeros((100, 100), np.int64)
    np.add.at(cm, (lab, pred), 1)
    s = f.create_group("summary")
    s.create_dataset("confusion", data=cm)
    s.attrs["top1"] = np.trace(cm) / cm.sum()
    s.attrs["n_samples"] = np.int64(cm.sum())

with h5py.File(os.path.join(out, "empty.h5"), "w") as f:
    f.attrs["complete"] = np.int64(0)
