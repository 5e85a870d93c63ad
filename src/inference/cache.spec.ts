/**
 * Prefill-then-decode with the KV cache equals recomputing the whole sequence, including a
 * left-padded batch and a sliding window shorter than the sequence.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { ModelRunner, type KvCache } from "./runner.js";
import { relativeError, TINY_CASES, tokenSequence, writeTinyCase } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-cache-"));
let worst = 0;
afterAll(async () => {
  console.log("max relative error, cached decode vs full recompute:", worst);
  await rm(root, { recursive: true, force: true });
});

describe.each(TINY_CASES.filter((c) => c.name.startsWith("mistral") || c.name.startsWith("qwen2-window") || c.name.startsWith("llama-gqa")))("$name", (c) => {
  it("prefill + one-token decode steps give the logits of the full sequence", async () => {
    const dir = await writeTinyCase(root, c);
    const config = await readModelConfig(dir);
    const weights = await openModelWeights(dir);
    const runner = await ModelRunner.create(config, weights, { threads: 1 });
    try {
      const V = config.vocab_size;
      const total = c.seqLen;
      const prefill = 4;
      const pads = [2, 0];
      const rows = [tokenSequence(total - pads[0], V, 3), tokenSequence(total, V, 4)].map((r, b) => [...new Array(pads[b]).fill(0), ...r]);
      const mask = rows.map((r, b) => r.map((_, i) => (i < pads[b] ? 0 : 1)));
      const pos = rows.map((r, b) => r.map((_, i) => Math.max(0, i - pads[b])));
      const full = await runner.forward({ batch: 2, seq: total, inputIds: rows.flat(), attentionMask: mask.flat(), positionIds: pos.flat() });

      const cols = (from: number, to: number, m: number[][]) => m.flatMap((r) => r.slice(from, to));
      let out = await runner.forward({ batch: 2, seq: prefill, inputIds: cols(0, prefill, rows), attentionMask: cols(0, prefill, mask), positionIds: cols(0, prefill, pos), keep: 1 });
      let past: KvCache | null = out.present;
      for (let t = prefill; t <= total; t++) {
        // `out` holds the logits at position t − 1; compare with the full pass.
        for (let b = 0; b < 2; b++) {
          const want = full.values.subarray((b * total + t - 1) * V, (b * total + t) * V);
          const got = out.values.subarray(b * V, (b + 1) * V);
          const err = relativeError(got, want);
          worst = Math.max(worst, err);
          expect(err).toBeLessThan(1e-5);
        }
        if (t === total) break;
        out = await runner.forward({ batch: 2, seq: 1, inputIds: cols(t, t + 1, rows), attentionMask: cols(0, t + 1, mask), positionIds: cols(t, t + 1, pos), keep: 1, past });
        past = out.present;
        expect(past!.length).toBe(t + 1);
      }
    } finally {
      await runner.close();
      await weights.close();
    }
  });
});
