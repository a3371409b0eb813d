#!/usr/bin/python3
"""Writes N random torch.save checkpoints rand_<i>.pkl with rand_<i>.expect.h5 (see
make_fixtures.py) into OUTDIR: random ranks 0-5, shapes, dtypes, views (transposes, slices with
storage offsets, steps, broadcasts), storages shared between entries, protocols 2 and 4, plain
state dicts and ASiM checkpoint dicts. Used by test_checkpoint when torch is importable.

    /usr/bin/python3 make_random.py OUTDIR SEED N
"""
import collections
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_expect  # noqa: E402

DTYPES = [torch.float32, torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.uint8]


def rand_tensor(rng, dt):
    nd = rng.randint(0, 5)
    shape = [rng.randint(1, 6) for _ in range(nd)]
    if nd and rng.random() < 0.05:
        shape[rng.randrange(nd)] = 0
    if dt.is_floating_point:
        t = torch.randn(shape, dtype=torch.float32).to(dt) * rng.choice([1e-3, 1.0, 1e3])
    else:
        hi = 255 if dt == torch.uint8 else 2**31 - 1
        t = torch.randint(0 if dt == torch.uint8 else -hi, hi, shape, dtype=dt)
    r = rng.random()
    if nd >= 2 and r < 0.2:
        t = t.transpose(0, nd - 1)
    elif nd >= 1 and r < 0.4 and t.shape[0] > 1:
        t = t[rng.randint(1, t.shape[0] - 1):]
    elif nd >= 1 and r < 0.55:
        t = t[..., ::2] if t.shape[-1] > 0 else t
    elif nd >= 2 and r < 0.65:
        t = t.permute(*reversed(range(nd)))
    elif r < 0.72 and t.numel() > 0:
        t = t.reshape(-1)[:1].reshape([]).expand(*[rng.randint(1, 4) for _ in range(rng.randint(1, 3))])
    return t


def main():
    out, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    torch.manual_seed(seed)
    for i in range(n):
        sd = collections.OrderedDict() if rng.random() < 0.7 else {}
        for j in range(rng.randint(1, 12)):
            if sd and rng.random() < 0.15:  # a view of a storage already in the dict
                base = rng.choice(list(sd.values()))
                flat = base.reshape(-1) if base.is_contiguous() else base.contiguous().reshape(-1)
                if flat.numel() > 1:
                    sd["view%d" % j] = flat[rng.randint(0, flat.numel() - 1):]
                    continue
            sd["layer%d.%s" % (j, rng.choice(["weight", "bias", "alpha", "running_var"]))] = rand_tensor(rng, rng.choice(DTYPES))
        if rng.random() < 0.5:
            obj = {"model_state_dict": sd, "optimizer_state_dict": {}, "epoch": rng.randint(0, 300),
                   "best_acc": rng.random()}
        else:
            obj = sd
        name = os.path.join(out, "rand_%d" % i)
        torch.save(obj, name + ".pkl", pickle_protocol=rng.choice([2, 4]))
        write_expect(name + ".expect.h5", sd, obj if obj is not sd else None)


if __name__ == "__main__":
    main()
