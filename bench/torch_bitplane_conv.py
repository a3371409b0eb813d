"""PyTorch float32 baseline: one ASiMConv2d layer in Simulation mode computed the way ASiM does it
(spec §3.3 / Appendix B): integer codes, two's-complement bit planes as 0/1 float tensors, one
F.conv2d per (macro load, weight bit, activation bit), the ADC as float32 tensor ops, float32
shift-add. Prints a Markdown table row per configuration (ms per image, one thread).

    /usr/bin/python3 bench/torch_bitplane_conv.py [--batch 16] [--reps 3]
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def asim_conv_sim(x, w, wbit, xbit, adc, nrow, sigma, stride=1, pad=1):
    sx = x.max() + 1e-7
    xi = torch.round(torch.clamp(x / sx, 0, 1) * (2 ** xbit - 1)).int()
    sw = w.abs().max() + 1e-7
    wi = (torch.round(torch.clamp(w.abs() / sw, 0, 1) * (2 ** (wbit - 1) - 1)) * torch.sign(w)).int()
    wc = wi & ((1 << wbit) - 1)  # two's complement planes, MSB negative
    xp = [((xi >> j) & 1).float() for j in range(xbit)]
    wp = [((wc >> i) & 1).float() for i in range(wbit)]
    C, k = x.shape[1], w.shape[2]
    G, U = nrow // (k * k), math.ceil(C * k * k / nrow)
    A = float(2 ** adc - 1)
    acc = None
    for n in range(U):
        cs = slice(n * G, min((n + 1) * G, C))
        for i in reversed(range(wbit)):
            for j in reversed(range(xbit)):
                M = F.conv2d(xp[j][:, cs], wp[i][:, cs], stride=stride, padding=pad)
                v = torch.clamp(M / nrow, 0, 1)
                if sigma > 0:
                    z1, z2 = torch.randn_like(v), torch.randn_like(v)
                    v = torch.clamp(v + z1 * sigma / 100 + z2 / torch.sqrt(v * nrow + 1) * sigma / 100, 0, 1)
                V = torch.round(v * A) / A * nrow
                t = V * float(2 ** (i + j))
                t = -t if i == wbit - 1 else t
                acc = t if acc is None else acc + t
    return acc * (sw * sx) / ((2 ** (wbit - 1) - 1) * (2 ** xbit - 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.relu(torch.randn(a.batch, 256, 8, 8))
    w = torch.randn(256, 256, 3, 3) * 0.05
    print("ResNet-18 layer3 3x3 conv, 256 -> 256 channels, 8x8, nrow 255, batch %d, torch %s, 1 thread:\n"
          % (a.batch, torch.__version__))
    print("| configuration | PyTorch bit-plane conv, ms / image |")
    print("|---|---|")
    for name, wb, xb, adc, sig in [("W4A4 adc 4, noise off", 4, 4, 4, 0.0), ("W4A4 adc 4, noise 1 %/1 %", 4, 4, 4, 1.0),
                                   ("W8A8 adc 8, noise off", 8, 8, 8, 0.0)]:
        best = 1e30
        with torch.no_grad():
            for _ in range(a.reps):
                t0 = time.perf_counter()
                asim_conv_sim(x, w, wb, xb, adc, 255, sig)
                best = min(best, time.perf_counter() - t0)
        print("| %s | %.2f |" % (name, 1e3 * best / a.batch))


if __name__ == "__main__":
    main()
