#!/usr/bin/env python3
"""Verify expo-bot's extrapolations with the reference implementations (not run in CI).

For each case of manifest-extrapolation.json (written by prepare-extrapolation.ts):
  1. every output shard opens with the reference safetensors parser (safe_open), and
     model.safetensors.index.json's total_size equals the tensor bytes;
  2. every value equals theta1 + alpha_t * (theta1 - theta0) computed in float64 and rounded
     once, to nearest even, to the output dtype: bit for bit, signed zeros included. The
     rounding oracle below is NumPy arithmetic on frexp/rint, independent of expo-bot's code;
     rows of appended tokens (beyond theta0's vocabulary) must equal theta1 (delta 0);
  3. transformers loads the folder with no missing, unexpected or mismatched weights, and
     its logits are finite.

    python check_extrapolation.py --manifest OUT/manifest-extrapolation.json
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch
import transformers
from safetensors import safe_open
from transformers import AutoModelForCausalLM

FORMATS = {  # significand bits (with the implicit one), min normal exponent, max finite
    torch.bfloat16: (8, -126, float(torch.finfo(torch.bfloat16).max)),
    torch.float16: (11, -14, 65504.0),
}


def round_once(d, dtype):
    """float64 -> nearest value of dtype (ties to even), returned as float64."""
    if dtype == torch.float64:
        return d
    if dtype == torch.float32:
        return d.astype(np.float32).astype(np.float64)  # IEEE conversion: one RNE rounding
    p, emin, fmax = FORMATS[dtype]
    m, e = np.frexp(d)  # d = m * 2**e, 0.5 <= |m| < 1
    normal = np.rint(m * 2.0**p) * np.exp2(e - p)  # exact scaling; rint is round-half-even
    sub = np.rint(d * 2.0 ** (p - 1 - emin)) * 2.0 ** (emin - p + 1)
    q = np.where(np.abs(d) < 2.0**emin, sub, normal)
    q = np.where(np.abs(q) > fmax, np.copysign(np.inf, d), q)  # beyond max + half ulp rounded up
    return np.copysign(q, d)  # keeps -0.0


def load(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            idx = json.load(f)
        files = sorted(set(idx["weight_map"].values()))
    else:
        idx, files = None, ["model.safetensors"]
    tensors, total = {}, 0
    for name in files:
        with safe_open(os.path.join(folder, name), framework="pt") as f:  # the reference parser
            for key in f.keys():
                t = f.get_tensor(key)
                tensors[key] = t
                total += t.numel() * t.element_size()
    if idx is not None:
        assert idx["metadata"]["total_size"] == total, f"{folder}: index total_size {idx['metadata']['total_size']} != {total}"
        assert set(idx["weight_map"]) == set(tensors), f"{folder}: index and shards disagree"
    return tensors


def alpha_for(name, alpha, rules):
    for rule in rules:
        pattern, value = rule.rsplit("=", 1)
        if re.search(pattern, name):
            return float(value)
    return alpha


def check_case(root, case):
    t0, t1, t2 = (load(os.path.join(root, case[k])) for k in ("sft", "aligned", "out"))
    assert set(t2) == set(t1), f"tensor names differ: {sorted(set(t1) ^ set(t2))}"
    checked = 0
    for name, out in t2.items():
        a = t1[name]
        want_dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32, "f64": torch.float64}.get(case["dtype"] or "", a.dtype) if a.is_floating_point() else a.dtype
        assert out.dtype == want_dtype, f"{name}: dtype {out.dtype}, expected {want_dtype}"
        if not a.is_floating_point():
            assert torch.equal(out, a), f"{name}: non-float tensor changed"
            continue
        x1 = a.to(torch.float64).numpy()
        x0full = t0[name].to(torch.float64).numpy()
        x0 = x1.copy()
        rows = x0full.shape[0]
        x0[:rows] = x0full  # appended vocabulary rows: theta0 := theta1 (delta 0)
        at = alpha_for(name, case["alpha"], case["rules"])
        exact = x1 + at * (x1 - x0)
        expected = round_once(exact, out.dtype)
        got = out.to(torch.float64).numpy()
        same = (got == expected) & (np.signbit(got) == np.signbit(expected))
        if not same.all():
            bad = np.argwhere(~same)[:5]
            raise AssertionError(f"{name}: {int((~same).sum())} of {same.size} values differ, e.g. at {bad.tolist()}: got {got[tuple(bad[0])]!r}, expected {expected[tuple(bad[0])]!r} from {exact[tuple(bad[0])]!r}")
        checked += same.size
    model, info = AutoModelForCausalLM.from_pretrained(os.path.join(root, case["out"]), torch_dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    assert not problems, f"transformers loading: {problems}"
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3, 4, 5]])).logits
    assert torch.isfinite(logits).all(), "non-finite logits"
    return checked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    args = ap.parse_args()
    root = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest) as f:
        cases = json.load(f)["cases"]
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    failed = 0
    for case in cases:
        try:
            n = check_case(root, case)
            print(f"PASS {case['name']}: {n} values bit-exact, reference parser and transformers load OK")
        except Exception as err:  # report every case
            failed += 1
            print(f"FAIL {case['name']}: {err}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
