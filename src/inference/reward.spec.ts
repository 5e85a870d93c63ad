/**
 * Reward models: the score read at the last non-padding token equals the reference
 * (transformers' pooling), with padding in the batch, for each architecture.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { loadRewardModel } from "./index.js";
import { referenceForward } from "./reference.js";
import { relativeError, TINY_REWARD_CASES, writeTinyCase } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-reward-"));
const seen: Record<string, number> = {};
afterAll(async () => {
  console.log("max relative error of reward scores vs reference:", JSON.stringify(seen));
  await rm(root, { recursive: true, force: true });
});

const pairs = [
  { prompt: "what is the cat doing?", response: "the cat is sleeping on the mat and it is warm" },
  { prompt: "hi", response: "hello" },
  { prompt: [{ role: "system", content: "be kind" }, { role: "user", content: "and then?" }], response: "then the end" },
];

describe.each(TINY_REWARD_CASES)("$name", (c) => {
  it("scores pairs in a padded batch as the reference scores each alone", async () => {
    const dir = await writeTinyCase(root, c);
    const rm = await loadRewardModel(dir, { threads: 1 });
    const config = await readModelConfig(dir);
    const weights = await openModelWeights(dir);
    try {
      expect(rm.info.spec.head).toBe("reward");
      const seqs = await Promise.all(pairs.map((p) => rm.encodePair(p)));
      expect(new Set(seqs.map((s) => s.length)).size).toBeGreaterThan(1); // padding happens
      const text = await rm.scoreTokenIds(seqs);
      const scores = await rm.score(pairs);
      expect(scores).toEqual(text.map((s) => s[0]));
      const want: number[] = [];
      for (const s of seqs) want.push((await referenceForward(config, weights, [s])).pooled![0][0]);
      const err = relativeError(scores, want);
      expect(err).toBeLessThan(1e-4);
      // One at a time gives the same scores as the padded batch.
      const single = await rm.score(pairs, { batchSize: 1 });
      expect(relativeError(single, scores)).toBeLessThan(1e-5);
      // The reference with the batch's right padding pools at the same tokens.
      const S = Math.max(...seqs.map((s) => s.length));
      const pad = config.pad_token_id as number;
      const padded = seqs.map((s) => [...s, ...new Array(S - s.length).fill(pad)]);
      const refBatch = await referenceForward(config, weights, padded, padded.map((r, b) => r.map((_, i) => (i < seqs[b].length ? 1 : 0))));
      expect(relativeError(scores, refBatch.pooled!.map((p) => p[0]))).toBeLessThan(1e-4);
      seen[c.name] = err;
    } finally {
      await rm.close();
      await weights.close();
    }
  });
});
