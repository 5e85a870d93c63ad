#!/usr/bin/env python3
"""Compare expo-bot's --dump-logits output with Hugging Face transformers, in float32.

Runs on a machine with PyTorch + transformers (not in CI; this repository's tests use a
TypeScript reference instead). Two ways to call it:

    python compare_logits.py MODEL_DIR TOKEN_IDS.json LOGITS.npy [--tolerance 1e-4]
    python compare_logits.py --manifest OUT/manifest.json        # written by prepare.ts

For a causal LM the .npy holds logits [seq, vocab] of the token ids; for a
sequence-classification reward model it holds the score head's output at every position
[seq, num_labels] (score(model(ids).last_hidden_state)), and the manifest also carries the
pooled score, compared with transformers' own pooled `logits`.

Prints max absolute and relative (max |diff| / max |reference|) differences per case and
exits 1 if any relative difference exceeds the tolerance.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification


def load_ids(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data["token_ids"]
    return [int(x) for x in data]


def reference(model_dir, ids):
    config = AutoConfig.from_pretrained(model_dir)
    arch = (config.architectures or [""])[0]
    input_ids = torch.tensor([ids], dtype=torch.long)
    # transformers >= 4.56 calls the argument `dtype` (`torch_dtype` is deprecated there).
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    kwargs = {dtype_key: torch.float32, "attn_implementation": "eager"}
    with torch.no_grad():
        if arch.endswith("ForSequenceClassification"):
            model = AutoModelForSequenceClassification.from_pretrained(model_dir, **kwargs).eval()
            hidden = model.model(input_ids=input_ids).last_hidden_state
            per_token = model.score(hidden)[0].float().numpy()
            pooled = model(input_ids=input_ids).logits[0].float().numpy()
            return per_token, pooled
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs).eval()
        return model(input_ids=input_ids).logits[0].float().numpy(), None


def compare(name, model_dir, ids_path, npy_path, tolerance, pooled_score=None):
    ids = load_ids(ids_path)
    ours = np.load(npy_path).astype(np.float64)
    ref, pooled = reference(model_dir, ids)
    ref = ref.astype(np.float64)
    if ours.shape != ref.shape:
        print(f"{name}: SHAPE MISMATCH ours {ours.shape} vs transformers {ref.shape}")
        return False
    diff = np.abs(ours - ref)
    max_abs = float(diff.max())
    rel = max_abs / max(float(np.abs(ref).max()), 1e-30)
    ok = rel <= tolerance
    line = f"{name}: shape {tuple(ref.shape)} max_abs {max_abs:.3e} max_rel {rel:.3e}"
    if pooled is not None and pooled_score is not None:
        p_abs = abs(float(pooled[0]) - pooled_score)
        p_rel = p_abs / max(abs(float(pooled[0])), 1e-30)
        line += f" | pooled ours {pooled_score:.6f} transformers {float(pooled[0]):.6f} rel {p_rel:.3e}"
        ok = ok and p_rel <= tolerance
    print(("OK   " if ok else "FAIL ") + line)
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?")
    parser.add_argument("ids", nargs="?")
    parser.add_argument("npy", nargs="?")
    parser.add_argument("--manifest")
    parser.add_argument("--tolerance", type=float, default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    torch.manual_seed(0)
    all_ok = True
    if args.manifest:
        base = os.path.dirname(os.path.abspath(args.manifest))
        with open(args.manifest) as f:
            manifest = json.load(f)
        tol = args.tolerance if args.tolerance is not None else manifest.get("tolerance", 1e-4)
        for case in manifest["cases"]:
            try:
                ok = compare(case["name"], os.path.join(base, case["model"]), os.path.join(base, case["ids"]),
                             os.path.join(base, case["npy"]), tol, case.get("pooledScore"))
            except Exception as err:  # report every case, then fail
                print(f"FAIL {case['name']}: {type(err).__name__}: {err}")
                ok = False
            all_ok = all_ok and ok
    else:
        if not (args.model_dir and args.ids and args.npy):
            parser.error("give MODEL_DIR TOKEN_IDS.json LOGITS.npy, or --manifest")
        tol = args.tolerance if args.tolerance is not None else 1e-4
        all_ok = compare(os.path.basename(os.path.normpath(args.model_dir)), args.model_dir, args.ids, args.npy, tol)
    print("all within tolerance" if all_ok else "SOME CASES DIFFER")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
