#!/usr/bin/env bash
# Peak memory of loading a ViT-B/32-sized checkpoint (random weights, torchvision key names,
# 88.2M float32 parameters = 353 MB): asim-convert --torchvision vit_b_32 must stay below 2x the
# weight size in resident memory. Needs torch (Debian python3-torch) and GNU time; opt-in with
# ASIM_LARGE_TESTS=1 (writes ~700 MB to $TMPDIR). Exit 77 = skipped.
# Usage: ckpt_peak_rss.sh ASIM_CONVERT
set -eu
bin=$1
py=${ASIM_PYTHON:-/usr/bin/python3}
[ "${ASIM_LARGE_TESTS:-0}" = 1 ] || { echo "SKIP: set ASIM_LARGE_TESTS=1 to run"; exit 77; }
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time (GNU time) not installed"; exit 77; }
"$py" -c 'import torch' 2>/dev/null || { echo "SKIP: $py cannot import torch"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/asim_rss_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" - "$tmp/vit_b_32.pth" <<'PY'
import collections, sys, torch
E, M, L, P, T = 768, 3072, 12, 32, 50
torch.manual_seed(0)
sd = collections.OrderedDict()
sd["class_token"] = torch.randn(1, 1, E)
sd["conv_proj.weight"] = torch.randn(E, 3, P, P)
sd["conv_proj.bias"] = torch.randn(E)
sd["encoder.pos_embedding"] = torch.randn(1, T, E)
for i in range(L):
    p = "encoder.layers.encoder_layer_%d." % i
    for k, s in [("ln_1.weight", (E,)), ("ln_1.bias", (E,)), ("self_attention.in_proj_weight", (3 * E, E)),
                 ("self_attention.in_proj_bias", (3 * E,)), ("self_attention.out_proj.weight", (E, E)),
                 ("self_attention.out_proj.bias", (E,)), ("ln_2.weight", (E,)), ("ln_2.bias", (E,)),
                 ("mlp.linear_1.weight", (M, E)), ("mlp.linear_1.bias", (M,)), ("mlp.linear_2.weight", (E, M)),
                 ("mlp.linear_2.bias", (E,))]:
        sd[p + k] = torch.randn(*s)
sd["encoder.ln.weight"] = torch.randn(E)
sd["encoder.ln.bias"] = torch.randn(E)
sd["heads.head.weight"] = torch.randn(1000, E)
sd["heads.head.bias"] = torch.randn(1000)
torch.save(sd, sys.argv[1])
print("params", sum(t.numel() for t in sd.values()))
PY
bytes=$(( $(stat -c %s "$tmp/vit_b_32.pth") ))
/usr/bin/time -v "$bin" "$tmp/vit_b_32.pth" "$tmp/vit_b_32.h5" --torchvision vit_b_32 2>"$tmp/time" || { cat "$tmp/time"; exit 1; }
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/time")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time")
echo "checkpoint $bytes bytes; asim-convert peak RSS $((rss_kb * 1024)) bytes ($(awk "BEGIN {printf \"%.2f\", $rss_kb * 1024 / $bytes}")x); wall $wall"
[ $((rss_kb * 1024)) -lt $((2 * bytes)) ] || { echo "FAIL: peak RSS is not below 2x the checkpoint size"; exit 1; }
echo "1 passed, 0 failed"
