"""PyTorch eager baseline for `npm run bench:inference -- --shape ...`.

Greedy decode with a KV cache of a Llama / Qwen2 / Qwen3 checkpoint folder in float32, written
in plain torch (transformers is not needed; the safetensors files are read directly), the
way transformers' eager attention computes it. Prints one JSON line:
  {"load_s", "load_cpu_s", "peak_rss_bytes", "prefill_ms", "decode_tok_s", "tokens", "batch"}.

  python3 bench/torch_decode.py MODEL_DIR --prompt 1,2,3 --new 32 --threads 2 [--batch 1]
"""
import argparse
import json
import mmap
import os
import resource
import struct
import time

import torch

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


def read_safetensors(path):
    """Each tensor converted to a float32 copy straight from a memory map of the file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        count = (b - a) // torch.tensor([], dtype=dtype).element_size()
        t = torch.frombuffer(mm, dtype=dtype, count=count, offset=8 + n + a).reshape(info["shape"])
        out[name] = t.to(torch.float32, copy=True)
        del t
    try:
        mm.close()
    except BufferError:
        pass
    return out


def load(folder):
    config = json.load(open(os.path.join(folder, "config.json")))
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    weights = {}
    for f in files:
        weights.update(read_safetensors(os.path.join(folder, f)))
    return config, weights


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


@torch.inference_mode()
def forward(config, W, ids, positions, cache):
    H = config["hidden_size"]
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads", nh)
    D = config.get("head_dim") or H // nh
    eps = config.get("rms_norm_eps", 1e-6)
    base = config.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    freqs = positions[..., None].float() * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    x = W["model.embed_tokens.weight"][ids]
    B, S, _ = x.shape
    lin = lambda t, p: torch.nn.functional.linear(t, W[p + ".weight"], W.get(p + ".bias"))
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, W[p + ".input_layernorm.weight"], eps)
        q = lin(h, p + ".self_attn.q_proj").view(B, S, nh, D)
        k = lin(h, p + ".self_attn.k_proj").view(B, S, nkv, D)
        v = lin(h, p + ".self_attn.v_proj").view(B, S, nkv, D).transpose(1, 2)
        if p + ".self_attn.q_norm.weight" in W:
            q = rms_norm(q, W[p + ".self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + ".self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache[i] is not None:
            k = torch.cat((cache[i][0], k), dim=2)
            v = torch.cat((cache[i][1], v), dim=2)
        cache[i] = (k, v)
        kk = k.repeat_interleave(nh // nkv, dim=1)
        vv = v.repeat_interleave(nh // nkv, dim=1)
        scores = q @ kk.transpose(-1, -2) / (D ** 0.5)
        T = kk.shape[2]
        if S > 1:
            mask = torch.ones(S, T, dtype=torch.bool).tril(T - S)
            scores = scores.masked_fill(~mask, torch.finfo(torch.float32).min)
        out = (scores.softmax(-1) @ vv).transpose(1, 2).reshape(B, S, nh * D)
        x = x + lin(out, p + ".self_attn.o_proj")
        h = rms_norm(x, W[p + ".post_attention_layernorm.weight"], eps)
        g = lin(h, p + ".mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + ".mlp.up_proj"), p + ".mlp.down_proj")
    x = rms_norm(x[:, -1:], W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if config.get("tie_word_embeddings") or "lm_head.weight" not in W else W["lm_head.weight"]
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    c0 = time.process_time()
    config, W = load(a.model)
    load_s = time.perf_counter() - t0
    load_cpu_s = time.process_time() - c0
    prompt = [int(t) for t in a.prompt.split(",")]
    ids = torch.tensor([prompt] * a.batch)
    cache = [None] * config["num_hidden_layers"]
    t1 = time.perf_counter()
    logits = forward(config, W, ids, torch.arange(len(prompt))[None].expand(a.batch, -1), cache)
    prefill_ms = (time.perf_counter() - t1) * 1000
    out = []
    t2 = time.perf_counter()
    pos = len(prompt)
    for step in range(a.new):
        nxt = logits[:, -1].argmax(-1)
        out.append(int(nxt[0]))
        if step == a.new - 1:
            break
        logits = forward(config, W, nxt[:, None], torch.full((a.batch, 1), pos), cache)
        pos += 1
    decode_s = time.perf_counter() - t2
    print(json.dumps({
        "load_s": load_s,
        "load_cpu_s": load_cpu_s,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "prefill_ms": prefill_ms,
        "decode_tok_s": a.batch * (a.new - 1) / decode_s,
        "tokens": out,
        "batch": a.batch,
    }))


if __name__ == "__main__":
    main()
