import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ResultCache, generationKey } from "./cache.js";
import { runSearch } from "./search.js";
import { Simulation, SimulatedGenerator, SimulatedMaterializer, SimulatedScorer, simulatedPrompts } from "./simulate.js";
import { PAPER_SAMPLING } from "./types.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "expo-search-cache-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const curve = { peak: 0.3, height: 0.8 };
const models = { sft: { path: "sft", revision: "sft@1" }, aligned: { path: "dpo", revision: "dpo@1" } };

async function search(cachePath: string, failAfter?: number) {
  const sim = new Simulation({ curve, seed: 11 });
  const generator = new SimulatedGenerator(sim, { failAfter });
  const run = runSearch({
    prompts: simulatedPrompts(160, "c"),
    generator,
    scorer: new SimulatedScorer(sim),
    materializer: new SimulatedMaterializer(),
    models,
    strategy: { kind: "auto" },
    cache: await ResultCache.open(cachePath),
    statistics: { bootstrapResamples: 200 },
    batchSize: 16,
    now: () => new Date(0),
  });
  return { run, generator };
}

describe("resumable cache", () => {
  it("a rerun after a crash regenerates nothing that had finished", async () => {
    // Reference: one uninterrupted run.
    const ref = await search(join(dir, "ref.jsonl"));
    const reference = await ref.run;
    const total = ref.generator.answers;
    expect(total).toBe(reference.cost.generations);

    // Crash part-way (an injected failure inside the generator), then rerun on the same cache.
    const path = join(dir, "cache.jsonl");
    const crashed = await search(path, 250);
    await expect(crashed.run).rejects.toThrow(/simulated crash/);
    const finishedBeforeCrash = (await ResultCache.open(path)).size.generations;
    // Whole batches that completed before answer 250 (batches of 16, cut at the race's prompt counts).
    expect(finishedBeforeCrash).toBe(244);
    const resumed = await search(path);
    const report = await resumed.run;
    expect(resumed.generator.answers).toBe(total - finishedBeforeCrash);
    expect(report.cost.cachedGenerations).toBe(finishedBeforeCrash);
    // Same results as the uninterrupted run.
    expect(report.decision).toEqual(reference.decision);
    expect(report.alphas.map((a) => a.rewards)).toEqual(reference.alphas.map((a) => a.rewards));

    // A third run generates nothing at all.
    const again = await search(path);
    await again.run;
    expect(again.generator.answers).toBe(0);
  });

  it("cuts off a partial last line left by a crash mid-append", async () => {
    const path = join(dir, "partial.jsonl");
    const cache = await ResultCache.open(path);
    cache.putGeneration("k1", 0.1, { text: "hello", tokens: 3 });
    cache.putScore("k1", "rm", 1.5);
    await cache.flush();
    await appendFile(path, '{"t":"gen","k":"k2","alpha":"0.1","te');
    const reopened = await ResultCache.open(path);
    expect(reopened.recoveredPartialLines).toBe(1);
    expect(reopened.getGeneration("k1")).toEqual({ text: "hello", tokens: 3 });
    expect(reopened.getScore("k1", "rm")).toBe(1.5);
    expect(reopened.getGeneration("k2")).toBeUndefined();
    reopened.putGeneration("k3", 0.2, { text: "x", tokens: 1 });
    await reopened.flush();
    const lines = (await readFile(path, "utf8")).trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).k)).toEqual(["k1", "k1", "k3"]);
  });

  it("keys on model revisions, α, prompt, sampling and generator", () => {
    const base = { revisions: { sft: "a", aligned: "b" }, alpha: 0.3, prompt: "hi", sampling: { ...PAPER_SAMPLING }, generator: "g" };
    const k = generationKey(base);
    expect(generationKey({ ...base, alpha: 0.1 + 0.2 })).toBe(k); // 0.30000000000000004 is α = 0.3
    expect(generationKey({ ...base, revisions: { sft: "a", aligned: "c" } })).not.toBe(k);
    expect(generationKey({ ...base, alpha: 0.4 })).not.toBe(k);
    expect(generationKey({ ...base, prompt: "hi!" })).not.toBe(k);
    expect(generationKey({ ...base, sampling: { ...PAPER_SAMPLING, temperature: 1 } })).not.toBe(k);
    expect(generationKey({ ...base, generator: "other" })).not.toBe(k);
  });
});
