/**
 * The ONNX graph's logits against the independent float64 reference (transformers v4.57
 * semantics), for each architecture and option, single sequences and left-padded batches.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { referenceForward } from "./reference.js";
import { ModelRunner } from "./runner.js";
import { relativeError, TINY_CASES, tokenSequence, writeTinyCase } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-graph-"));
const seen: Record<string, number> = {};
afterAll(async () => {
  console.log("max relative error vs reference (fp32):", JSON.stringify(seen));
  await rm(root, { recursive: true, force: true });
});

const TOLERANCE = 1e-4;

describe.each(TINY_CASES)("$name", (c) => {
  it("matches the reference forward pass on a single sequence and on a left-padded batch", async () => {
    const dir = await writeTinyCase(root, c);
    const config = await readModelConfig(dir);
    const weights = await openModelWeights(dir);
    const runner = await ModelRunner.create(config, weights, { threads: 1 });
    try {
      const vocab = config.vocab_size;
      const ids = tokenSequence(c.seqLen, vocab);
      const out = await runner.forward({ batch: 1, seq: ids.length, inputIds: ids, attentionMask: ids.map(() => 1), positionIds: ids.map((_, i) => i) });
      expect(out.dims).toEqual([1, ids.length, vocab]);
      const ref = await referenceForward(config, weights, [ids]);
      const err = relativeError(out.values, ref.perToken[0].flatMap((r) => Array.from(r)));
      expect(err).toBeLessThan(TOLERANCE);

      // A batch: row 0 left-padded by 3, row 1 full; positions count real tokens only.
      const S = c.seqLen;
      const short = tokenSequence(S - 3, vocab, 1);
      const rows = [[0, 0, 0, ...short], tokenSequence(S, vocab, 2)];
      const mask = [[0, 0, 0, ...short.map(() => 1)], rows[1].map(() => 1)];
      const pos = [[0, 0, 0, ...short.map((_, i) => i)], rows[1].map((_, i) => i)];
      const batch = await runner.forward({ batch: 2, seq: S, inputIds: rows.flat(), attentionMask: mask.flat(), positionIds: pos.flat() });
      const refBatch = await referenceForward(config, weights, rows, mask, pos);
      const got: number[] = [];
      const want: number[] = [];
      for (let b = 0; b < 2; b++) {
        for (let s = 0; s < S; s++) {
          if (mask[b][s] === 0) continue;
          got.push(...batch.values.subarray((b * S + s) * vocab, (b * S + s + 1) * vocab));
          want.push(...refBatch.perToken[b][s]);
        }
      }
      const batchErr = relativeError(got, want);
      expect(batchErr).toBeLessThan(TOLERANCE);
      // The padded row equals the same tokens run alone.
      const alone = await referenceForward(config, weights, [short]);
      expect(relativeError(got.slice(0, short.length * vocab), alone.perToken[0].flatMap((r) => Array.from(r)))).toBeLessThan(TOLERANCE);
      seen[c.name] = Math.max(err, batchErr);
    } finally {
      await runner.close();
      await weights.close();
    }
  });
});

describe("options change the output (so the tests above check them)", () => {
  it("the sliding windows and llama3 rope scaling matter on these sequences", async () => {
    for (const [name, patch] of [
      ["mistral-gqa-window4", { sliding_window: null }],
      ["llama-gqa-tied-llama3rope-f16", { rope_scaling: null }],
      ["qwen2-window3-layer1", { use_sliding_window: false }],
    ] as const) {
      const c = TINY_CASES.find((t) => t.name === name)!;
      const dir = await writeTinyCase(root, c);
      const config = await readModelConfig(dir);
      const weights = await openModelWeights(dir);
      try {
        const ids = tokenSequence(c.seqLen, config.vocab_size);
        const a = await referenceForward(config, weights, [ids]);
        const b = await referenceForward({ ...config, ...patch }, weights, [ids]);
        const flat = (o: typeof a) => o.perToken[0].flatMap((r) => Array.from(r));
        expect(relativeError(flat(b), flat(a))).toBeGreaterThan(100 * TOLERANCE);
      } finally {
        await weights.close();
      }
    }
  });

  it("Qwen3's per-head q/k norms matter on these sequences", async () => {
    const c = TINY_CASES.find((t) => t.name.startsWith("qwen3"))!;
    const dir = await writeTinyCase(root, c);
    const config = await readModelConfig(dir);
    const weights = await openModelWeights(dir);
    try {
      const ids = tokenSequence(c.seqLen, config.vocab_size);
      const a = await referenceForward(config, weights, [ids]);
      // The same checkpoint with the q_norm / k_norm tensors hidden from the reference.
      const hidden = new Proxy(weights, {
        get: (target, key) => (key === "has" ? (name: string) => !/\.(q|k)_norm\./.test(name) && target.has(name) : Reflect.get(target, key, target)),
      });
      const b = await referenceForward(config, hidden, [ids]);
      const flat = (o: typeof a) => o.perToken[0].flatMap((r) => Array.from(r));
      expect(relativeError(flat(b), flat(a))).toBeGreaterThan(100 * TOLERANCE);
    } finally {
      await weights.close();
    }
  });
});

describe("attention: com.microsoft.GroupQueryAttention variant (measured alternative)", () => {
  it("matches the reference on unpadded sequences, prefill and cached decode, sliding windows included", async () => {
    for (const c of TINY_CASES.filter((t) => t.name.startsWith("mistral") || t.name.startsWith("qwen2-window") || t.name === "llama-mha-f32")) {
      const dir = await writeTinyCase(root, c);
      const config = await readModelConfig(dir);
      const weights = await openModelWeights(dir);
      const runner = await ModelRunner.create(config, weights, { threads: 1, attention: "gqa" });
      try {
        const ids = tokenSequence(c.seqLen, config.vocab_size);
        const ref = await referenceForward(config, weights, [ids]);
        const full = await runner.forward({ batch: 1, seq: ids.length, inputIds: ids, attentionMask: ids.map(() => 1), positionIds: ids.map((_, i) => i) });
        let err = relativeError(full.values, ref.perToken[0].flatMap((r) => Array.from(r)));
        const n = 3;
        let out = await runner.forward({ batch: 1, seq: n, inputIds: ids.slice(0, n), attentionMask: new Array(n).fill(1), positionIds: [0, 1, 2], keep: 1 });
        for (let t = n; t < ids.length; t++) {
          out = await runner.forward({ batch: 1, seq: 1, inputIds: [ids[t]], attentionMask: new Array(t + 1).fill(1), positionIds: [t], keep: 1, past: out.present });
          err = Math.max(err, relativeError(out.values, ref.perToken[0][t]));
        }
        expect(err).toBeLessThan(TOLERANCE);
        seen[`gqa:${c.name}`] = err;
      } finally {
        await runner.close();
        await weights.close();
      }
    }
  });
});
