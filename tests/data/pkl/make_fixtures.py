#!/usr/bin/python3
"""Generates the checkpoint fixtures of tests/data/pkl (run with Debian's /usr/bin/python3,
which has torch and h5py; torchvision only for the tv_* mapping fixtures).

    /usr/bin/python3 tests/data/pkl/make_fixtures.py tests/data/pkl

Valid fixtures NAME.pkl come with NAME.expect.h5: the tensors the native reader must return
(float16/bfloat16/float64 as float32, C order), `keys_json` in state_dict order and the
`epoch` / `best_acc` attributes when the checkpoint has them. Hostile fixtures h_*.pkl must be
refused; tests/unit/test_checkpoint.c knows what each message must mention. tv_* fixtures are
torchvision-shaped state dicts whose tensors are single values broadcast with stride 0 (tiny
files, full-size shapes); tv_*.map lists the expected ASiM keys with their torchvision source.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import h5py
import numpy as np
import torch


def write_expect(path, sd, top=None):
    with h5py.File(path, "w") as f:
        for k, t in sd.items():
            if t.dtype in (torch.float16, torch.bfloat16, torch.float64):
                t = t.float()
            f.create_dataset(k, data=t.detach().contiguous().numpy())
        f.attrs["keys_json"] = np.bytes_(json.dumps(list(sd.keys())))
        if top is not None:
            for a in ("epoch", "best_acc"):
                if a in top:
                    f.attrs[a] = top[a]


def save(out, name, obj, sd, **kw):
    torch.save(obj, os.path.join(out, name + ".pkl"), **kw)
    write_expect(os.path.join(out, name + ".expect.h5"), sd, obj if obj is not sd else None)


# ---- hand-assembled pickles for hostile files --------------------------------------------

def uni(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(m, n):
    return b"c" + m.encode() + b"\n" + n.encode() + b"\n"


def lng(v):
    e = pickle.encode_long(v)
    return b"\x8a" + bytes([len(e)]) + e


def tup(vals):
    return b"(" + b"".join(lng(v) for v in vals) + b"t"


def tensor_op(key, stype, numel, offset, size, stride):
    return (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + b"(" + uni("storage") + glob("torch", stype) + uni(key) +
            uni("cpu") + lng(numel) + b"tQ" + lng(offset) + tup(size) + tup(stride) + b"\x89" +
            glob("collections", "OrderedDict") + b")R" + b"tR")


def state_pickle(entries):
    return b"\x80\x02}(" + b"".join(uni(k) + v for k, v in entries) + b"u."


def write_zip(path, pkl, storages, method=zipfile.ZIP_STORED, archive="archive"):
    def info(name):  # fixed timestamps: regenerating gives identical files
        return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr(info(archive + "/data.pkl"), pkl, compress_type=method)
        for k, data in storages.items():
            z.writestr(info(archive + "/data/" + k), data, compress_type=method)
        z.writestr(info(archive + "/version"), "3\n", compress_type=method)


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def hostile(out):
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    # opcode 0xfe does not exist
    write_zip(os.path.join(out, "h_unknown_opcode.pkl"), b"\x80\x02}q\x00\xfe.", {})
    # INST (a protocol-0 way to call a class) is never allowed
    write_zip(os.path.join(out, "h_inst.pkl"), b"\x80\x02(ios\nsystem\nX\x04\x00\x00\x00trueq\x00.", {})
    # os.system via GLOBAL + REDUCE (pickles as posix.system on Linux)
    write_zip(os.path.join(out, "h_os_system.pkl"),
              pickle.dumps({"model_state_dict": Evil(os.system, "touch /tmp/asim_pwned")}, protocol=2), {})
    # builtins.eval via STACK_GLOBAL (protocol 4)
    write_zip(os.path.join(out, "h_eval.pkl"),
              pickle.dumps({"model_state_dict": Evil(eval, "__import__('os').system('touch /tmp/asim_pwned')")}, protocol=4), {})
    # a truncated file: the second half of a valid checkpoint is missing
    with open(os.path.join(out, "plain_state.pkl"), "rb") as f:
        data = f.read()
    with open(os.path.join(out, "h_truncated.pkl"), "wb") as f:
        f.write(data[: len(data) // 2])
    # the tensor claims 100 elements of a 4-element storage
    write_zip(os.path.join(out, "h_tensor_beyond_storage.pkl"),
              state_pickle([("w", tensor_op("0", "FloatStorage", 4, 0, (10, 10), (10, 1)))]), {"0": f32})
    # the storage claims 1000 elements; the archive entry holds 16 bytes
    write_zip(os.path.join(out, "h_short_storage.pkl"),
              state_pickle([("w", tensor_op("0", "FloatStorage", 1000, 0, (10, 100), (100, 1)))]), {"0": f32})
    # sizes whose product overflows int64
    write_zip(os.path.join(out, "h_huge_size.pkl"),
              state_pickle([("w", tensor_op("0", "FloatStorage", 4, 0, (2**40, 2**40), (2**40, 1)))]), {"0": f32})
    # a storage of 2^62 elements (2^64 bytes)
    write_zip(os.path.join(out, "h_huge_storage.pkl"),
              state_pickle([("w", tensor_op("0", "FloatStorage", 2**62, 0, (4,), (1,)))]), {"0": f32})
    # a storage with no archive entry
    write_zip(os.path.join(out, "h_missing_storage.pkl"),
              state_pickle([("w", tensor_op("7", "FloatStorage", 4, 0, (4,), (1,)))]), {"0": f32})
    # BUILD on a tensor (would set attributes on an object)
    write_zip(os.path.join(out, "h_build_tensor.pkl"),
              b"\x80\x02}(" + uni("w") + tensor_op("0", "FloatStorage", 4, 0, (4,), (1,)) + b"}b" + b"u.", {"0": f32})
    # a corrupted storage byte (CRC-32 mismatch)
    buf = io.BytesIO()
    write_zip(buf, state_pickle([("w", tensor_op("0", "FloatStorage", 4, 0, (4,), (1,)))]), {"0": f32})
    b = bytearray(buf.getvalue())
    i = b.find(f32)
    b[i] ^= 0x40
    with open(os.path.join(out, "h_bad_crc.pkl"), "wb") as f:
        f.write(b)
    # a deflate entry claiming a 4 GiB result from a few bytes
    buf = io.BytesIO()
    write_zip(buf, state_pickle([("w", tensor_op("0", "FloatStorage", 4, 0, (4,), (1,)))]), {"0": f32},
              method=zipfile.ZIP_DEFLATED)
    b = bytearray(buf.getvalue())
    cd = b.find(b"PK\x01\x02")  # first central directory entry: data.pkl
    struct.pack_into("<I", b, cd + 24, 0x10000000)  # 256 MiB from ~20 bytes
    with open(os.path.join(out, "h_deflate_bomb.pkl"), "wb") as f:
        f.write(b)
    # the legacy (non-zip) torch.save format
    torch.save({"w": torch.ones(2)}, os.path.join(out, "h_legacy.pkl"), _use_new_zipfile_serialization=False)
    # a top-level list instead of a dict
    write_zip(os.path.join(out, "h_not_dict.pkl"), b"\x80\x02]q\x00.", {})
    # the same key twice (a pickled dict never repeats a key; a hand-made pickle can)
    write_zip(os.path.join(out, "h_duplicate_key.pkl"),
              state_pickle([("w", tensor_op("0", "FloatStorage", 4, 0, (4,), (1,))),
                            ("w", tensor_op("0", "FloatStorage", 4, 0, (2,), (1,)))]), {"0": f32})
    # a state dict entry that is not a tensor
    write_zip(os.path.join(out, "h_not_tensor.pkl"), state_pickle([("w", lng(5))]), {})


# ---- valid fixtures -----------------------------------------------------------------------

class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)


def valid(out):
    torch.manual_seed(1234)
    m = Small()
    m.bn.running_mean.normal_()
    m.bn.num_batches_tracked.fill_(3)
    sd = m.state_dict()  # OrderedDict with _metadata: exercises BUILD on an OrderedDict
    save(out, "plain_state", sd, sd)

    top = {"model_state_dict": sd, "optimizer_state_dict": {}, "epoch": 7, "best_acc": 0.8125}
    save(out, "asim_dict", top, sd)

    # an empty state dict (found by the fuzzer: memcpy from NULL in the duplicate-key check)
    save(out, "empty_state", {"model_state_dict": collections.OrderedDict(), "epoch": 1}, collections.OrderedDict())

    sd0 = collections.OrderedDict([("relu.alpha", torch.tensor(6.0)), ("bn.num_batches_tracked", torch.tensor(5)),
                                   ("one", torch.tensor([2.5]))])
    save(out, "scalar0d", sd0, sd0)

    special = [0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-5, 6e-8, float("inf"), -float("inf"), 1e-3, 3.14159]
    sdt = collections.OrderedDict([
        ("f16", torch.tensor(special, dtype=torch.float16)),
        ("bf16", torch.tensor(special + [1e30, -3e-30], dtype=torch.bfloat16)),
        ("f64", torch.tensor([1.0, 1 / 3, -1e-40, 1e300, 2.0**-149], dtype=torch.float64)),
        ("f16_2d", torch.randn(3, 5).half()),
        ("i32", torch.arange(-3, 3, dtype=torch.int32)),
        ("u8", torch.arange(250, 256, dtype=torch.uint8)),
        ("i64", torch.tensor([-(2**62), 2**40, 7])),
    ])
    save(out, "dtypes", sdt, sdt)

    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    b4 = torch.randn(2, 3, 4, 5)
    sdn = collections.OrderedDict([
        ("transposed", base.t()),
        ("rows_offset", base[2:5]),
        ("column", base[:, 3]),
        ("strided", base[1::2, ::3]),
        ("expanded", torch.tensor([1.0, 2.0, 3.0]).expand(4, 3)),
        ("permuted", b4.permute(3, 1, 0, 2)),
        ("f16_view", torch.randn(4, 6).half()[1:, 2:].t()),
        ("empty", torch.zeros(0, 5)),
    ])
    save(out, "noncontig", sdn, sdn)

    flat = torch.randn(12)
    sds = collections.OrderedDict([("a", flat[0:6].view(2, 3)), ("b", flat[4:12].view(2, 4)), ("c", flat)])
    save(out, "shared", sds, sds)

    # a training checkpoint: nested optimizer state (ints as keys, lists, None, bools, floats)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for p in m.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    top = {"model_state_dict": m.state_dict(), "optimizer_state_dict": opt.state_dict(), "epoch": 3, "best_acc": 0.5}
    save(out, "train_ckpt", top, m.state_dict())

    sdp = collections.OrderedDict([("w", torch.nn.Parameter(torch.randn(3, 2))), ("b", torch.randn(2))])
    save(out, "protocol4", sdp, sdp, pickle_protocol=4)
    save(out, "parameter", sdp, sdp)

    # the same checkpoint with deflated entries
    src = os.path.join(out, "plain_state.pkl")
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(os.path.join(out, "deflate.pkl"), "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), zi.read(info.filename),
                        compress_type=zipfile.ZIP_DEFLATED)
    write_expect(os.path.join(out, "deflate.expect.h5"), torch.load(src))


# ---- torchvision-shaped fixtures for the mapping ------------------------------------------

def asim_resnet_keys(tv_keys):
    """ASiM order derived from torchvision's: stem conv -> conv2 after a generated 3x3 conv1,
    an alpha after each block, the head, then the stem alpha."""
    out = [("conv1.weight", None), ("conv2.weight", "conv1.weight")]
    blocks = []
    for k in tv_keys:
        if k.startswith("layer"):
            blk = ".".join(k.split(".")[:2])
            if not blocks or blocks[-1][0] != blk:
                blocks.append((blk, []))
            blocks[-1][1].append(k)
        elif k.startswith("bn1."):
            out.append((k, k))
    for blk, keys in blocks:
        out += [(k, k) for k in keys]
        out.append((blk + ".relu.alpha", None))
    out += [("fc.weight", "fc.weight"), ("fc.bias", "fc.bias"), ("relu.alpha", None)]
    return out


def asim_vit_keys(tv_keys):
    ren = {"class_token": "cls_token", "conv_proj.weight": "patch_embedding.conv_proj.weight",
           "conv_proj.bias": "patch_embedding.conv_proj.bias", "heads.head.weight": "heads.weight",
           "heads.head.bias": "heads.bias"}
    inner = {"self_attention.in_proj_weight": "self_attention.qkv.weight",
             "self_attention.in_proj_bias": "self_attention.qkv.bias",
             "self_attention.out_proj.weight": "self_attention.proj.weight",
             "self_attention.out_proj.bias": "self_attention.proj.bias",
             "mlp.linear_1.weight": "mlp.mlp1.weight", "mlp.linear_1.bias": "mlp.mlp1.bias",
             "mlp.linear_2.weight": "mlp.mlp2.weight", "mlp.linear_2.bias": "mlp.mlp2.bias",
             "mlp.0.weight": "mlp.mlp1.weight", "mlp.0.bias": "mlp.mlp1.bias",
             "mlp.3.weight": "mlp.mlp2.weight", "mlp.3.bias": "mlp.mlp2.bias"}
    out = []
    for k in tv_keys:
        if k in ren:
            out.append((ren[k], k))
        elif k.startswith("encoder.layers.encoder_layer_"):
            rest = k[len("encoder.layers.encoder_layer_"):]
            i, name = rest.split(".", 1)
            out.append(("encoder.layers.%s.%s" % (i, inner.get(name, name)), k))
        else:
            out.append((k, k))
    # ASiM registers cls_token before the patch embedding
    out.sort(key=lambda e: 0 if e[0] == "cls_token" else 1)
    return out


def tv_fixture(out, name, sd, expected):
    """Each tensor is one value (its index + 1) broadcast to the full shape with stride 0."""
    tiny = collections.OrderedDict()
    for i, (k, t) in enumerate(sd.items()):
        if t.dtype == torch.int64:
            tiny[k] = torch.tensor(100 + i)
        else:
            tiny[k] = torch.tensor(float(i + 1)).expand(t.shape)
    torch.save(tiny, os.path.join(out, name + ".pkl"))
    with open(os.path.join(out, name + ".map"), "w") as f:
        for dst, src in expected(list(tiny.keys())):
            f.write("%s %s\n" % (dst, src or "-"))


def torchvision_fixtures(out):
    try:
        import torchvision
    except ImportError:
        print("torchvision not importable: tv_* fixtures not regenerated")
        return
    r18 = torchvision.models.resnet18().state_dict()
    tv_fixture(out, "tv_resnet18", r18, asim_resnet_keys)
    nonbt = collections.OrderedDict((k, v) for k, v in r18.items() if not k.endswith("num_batches_tracked"))
    tv_fixture(out, "tv_resnet18_nonbt", nonbt, lambda keys: [
        e for e in asim_resnet_keys(list(r18.keys()))])
    # without num_batches_tracked in the file the mapping creates them: expected source "-"
    with open(os.path.join(out, "tv_resnet18_nonbt.map"), "w") as f:
        for dst, src in asim_resnet_keys(list(r18.keys())):
            f.write("%s %s\n" % (dst, "-" if (src is None or src.endswith("num_batches_tracked")) else src))
    tv_fixture(out, "tv_resnet50", torchvision.models.resnet50().state_dict(), asim_resnet_keys)
    vit = torchvision.models.vit_b_32().state_dict()
    tv_fixture(out, "tv_vit_b_32_seq", vit, asim_vit_keys)  # newer torchvision: mlp.0 / mlp.3
    official = collections.OrderedDict(
        (k.replace("mlp.0.", "mlp.linear_1.").replace("mlp.3.", "mlp.linear_2."), v) for k, v in vit.items())
    tv_fixture(out, "tv_vit_b_32", official, asim_vit_keys)  # the official .pth names


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    valid(out)
    hostile(out)
    torchvision_fixtures(out)
