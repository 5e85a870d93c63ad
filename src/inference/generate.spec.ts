/**
 * Generation through the public API (worker thread): reproducible with a seed, greedy equals
 * the arg-max of recomputed logits, batching and the cache do not change greedy output, stop
 * tokens and strings end sequences; the sampler's pieces on their own.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCausalLM, type CausalLM } from "./index.js";
import { argmax, sampleToken, seededRandom } from "./sampling.js";
import { TINY_CASES, writeTinyCase } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-gen-"));
let lm: CausalLM;
beforeAll(async () => {
  const dir = await writeTinyCase(root, TINY_CASES.find((c) => c.name === "mistral-gqa-window4")!);
  lm = await loadCausalLM(dir, { threads: 1 });
});
afterAll(async () => {
  await lm?.close();
  await rm(root, { recursive: true, force: true });
});

const prompts = ["the cat is here", "hello", [{ role: "system", content: "be brief" }, { role: "user", content: "and then?" }]];

describe("generate (worker thread)", () => {
  it("reports the model and keeps the event loop free while generating", async () => {
    expect(lm.info.spec.architecture).toBe("MistralForCausalLM");
    expect(lm.info.hasChatTemplate).toBe(true);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await lm.generate(prompts, { maxNewTokens: 24, seed: 1 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it("is reproducible with a seed, and the seed matters", async () => {
    const sampling = { maxNewTokens: 12, temperature: 1, topP: 0.95, topK: 50, seed: 42 };
    const a = await lm.generate(prompts, sampling);
    const b = await lm.generate(prompts, sampling);
    const c = await lm.generate(prompts, { ...sampling, seed: 43 });
    expect(b).toEqual(a);
    expect(c.map((g) => g.tokenIds)).not.toEqual(a.map((g) => g.tokenIds));
    // A prompt's sample does not depend on the batch it is in.
    const alone = await lm.generate([prompts[0]], sampling);
    expect(alone[0].tokenIds).toEqual(a[0].tokenIds);
    for (const g of a) expect(g.tokenIds.length).toBeLessThanOrEqual(12);
  });

  it("greedy decoding is the arg-max of the full recomputed logits, with and without the cache, alone or batched", async () => {
    const greedy = { maxNewTokens: 10, greedy: true, ignoreEos: true };
    const batched = await lm.generate(prompts, greedy);
    const noCache = await lm.generate(prompts, { ...greedy, useCache: false });
    expect(noCache.map((g) => g.tokenIds)).toEqual(batched.map((g) => g.tokenIds));
    const single = await lm.generate([prompts[1]], greedy);
    expect(single[0].tokenIds).toEqual(batched[1].tokenIds);
    const g = batched[0];
    const { values, dims } = await lm.logits([...g.promptTokenIds, ...g.tokenIds.slice(0, -1)]);
    const P = g.promptTokenIds.length;
    g.tokenIds.forEach((token, i) => expect(argmax(values, (P - 1 + i) * dims[1], dims[1])).toBe(token));
  });

  it("stops at stop tokens and stop strings", async () => {
    const free = await lm.generate([prompts[0]], { maxNewTokens: 16, greedy: true, ignoreEos: true });
    const stopAt = free[0].tokenIds[3];
    const stopped = await lm.generate([prompts[0]], { maxNewTokens: 16, greedy: true, ignoreEos: true, stopTokenIds: [stopAt] });
    const first = free[0].tokenIds.indexOf(stopAt);
    expect(stopped[0].tokenIds).toEqual(free[0].tokenIds.slice(0, first + 1));
    expect(stopped[0].finishReason).toBe("stop");
    const text = free[0].text;
    const needle = text.slice(2, 4);
    if (needle.length === 2) {
      const cut = await lm.generate([prompts[0]], { maxNewTokens: 16, greedy: true, ignoreEos: true, stop: [needle] });
      expect(cut[0].text).toBe(text.slice(0, text.indexOf(needle)));
      expect(cut[0].finishReason).toBe("stop");
    }
  });

  it("chat template: prompts are rendered with the generation prompt", async () => {
    const ids = await lm.encode("hi");
    const raw = await lm.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", false);
    expect(ids).toEqual(raw);
  });
});

describe("sampler", () => {
  const logits = Float32Array.from([1, 3, 2, 0.5, 2.9]);
  it("greedy, top-k 1 and a tiny top-p all take the arg-max", () => {
    const r = seededRandom(0, 0);
    expect(sampleToken(logits, 0, 5, new Map(), { greedy: true }, r)).toBe(1);
    expect(sampleToken(logits, 0, 5, new Map(), { temperature: 0 }, r)).toBe(1);
    for (let i = 0; i < 20; i++) expect(sampleToken(logits, 0, 5, new Map(), { topK: 1 }, r)).toBe(1);
    for (let i = 0; i < 20; i++) expect(sampleToken(logits, 0, 5, new Map(), { topP: 0.01 }, r)).toBe(1);
  });
  it("top-k 2 only draws the two best; frequencies follow the softmax", () => {
    const r = seededRandom(7, 0);
    const counts = new Map<number, number>();
    for (let i = 0; i < 4000; i++) {
      const t = sampleToken(logits, 0, 5, new Map(), { topK: 2 }, r);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([1, 4]);
    const p1 = Math.exp(3) / (Math.exp(3) + Math.exp(2.9));
    expect(counts.get(1)! / 4000).toBeCloseTo(p1, 1);
  });
  it("top-p keeps the smallest most-likely prefix reaching p, renormalized", () => {
    const l = Float32Array.from([2, 3, 0.5, 2.9, 1]);
    const probs = Array.from(l, (x) => Math.exp(x));
    const z = probs.reduce((a, b) => a + b, 0);
    // Descending: 3 (id 1), 2.9 (id 3), 2 (id 0) … ; 0.8 is reached only with the third.
    const cumulative2 = (probs[1] + probs[3]) / z;
    expect(cumulative2).toBeLessThan(0.8);
    const r = seededRandom(11, 0);
    const counts = new Map<number, number>();
    const N = 6000;
    for (let i = 0; i < N; i++) {
      const t = sampleToken(l, 0, 5, new Map(), { topP: 0.8 }, r);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([0, 1, 3]);
    const kept = probs[0] + probs[1] + probs[3];
    for (const id of [0, 1, 3]) expect(counts.get(id)! / N).toBeCloseTo(probs[id] / kept, 1);
  });
  it("top-k keeps ties with the k-th score (transformers' rule) and works on a large vocabulary", () => {
    const r = seededRandom(3, 0);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(sampleToken(Float32Array.from([1, 0, 1, 1]), 0, 4, new Map(), { topK: 2 }, r));
    expect([...seen].sort()).toEqual([0, 2, 3]);
    const big = new Float32Array(50_000).map((_, i) => (i % 997) / 100);
    const best = new Set<number>();
    for (let i = 0; i < 50; i++) best.add(sampleToken(big, 0, big.length, new Map(), { topK: 3, temperature: 0.5 }, r) % 997);
    expect([...best].every((v) => v === 996)).toBe(true); // the 50 tied maxima (i % 997 = 996) fill the top 3
  });
  it("presence and frequency penalties lower repeated tokens", () => {
    const r = seededRandom(0, 0);
    const seen = new Map([[1, 2]]);
    expect(sampleToken(logits, 0, 5, seen, { greedy: true, presencePenalty: 0.05 }, r)).toBe(1);
    expect(sampleToken(logits, 0, 5, seen, { greedy: true, presencePenalty: 0.2 }, r)).toBe(4);
    expect(sampleToken(logits, 0, 5, seen, { greedy: true, frequencyPenalty: 0.06 }, r)).toBe(4);
  });
  it("the same seed and stream give the same draws", () => {
    const a = seededRandom(5, 2), b = seededRandom(5, 2), c = seededRandom(5, 3);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect([c(), c(), c()]).not.toEqual(xs);
  });
});
