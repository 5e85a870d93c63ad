/**
 * `npm run bench:inference`: embedded inference throughput on this CPU with a small
 * synthetic model (2 layers, hidden 256, 32k vocabulary by default):
 *   - prefill tokens/s (one forward over the prompt),
 *   - decode tokens/s with the KV cache and without it (the whole sequence recomputed each step),
 *     at batch 1 and batch 8,
 *   - reward-model scoring throughput in sequences/s.
 *
 *   npm run bench:inference -- [--hidden 256] [--layers 2] [--vocab 32000] [--prompt 128]
 *                              [--new 64] [--threads N] [--attention standard|gqa]
 *
 * With `--shape NAME` (qwen2-0.5b, qwen3-0.6b, llama3.2-1b) it measures a real-shaped
 * checkpoint instead: memory, load, decode, α switch and a PyTorch baseline (inference-shape.ts).
 */
if (process.argv.includes("--shape")) {
  await import("./inference-shape.js");
  process.exit(0);
}
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeTinyModel } from "../src/synthetic/tiny-model.js";
import { CausalLMEngine, RewardEngine } from "../src/inference/engine.js";
import type { AttentionImpl } from "../src/inference/graph.js";

const { values } = parseArgs({
  options: {
    hidden: { type: "string", default: "256" },
    layers: { type: "string", default: "2" },
    heads: { type: "string", default: "4" },
    "kv-heads": { type: "string", default: "2" },
    vocab: { type: "string", default: "32000" },
    prompt: { type: "string", default: "128" },
    new: { type: "string", default: "64" },
    threads: { type: "string" },
    attention: { type: "string", default: "standard" },
    repeat: { type: "string", default: "3" },
  },
});
const hidden = Number(values.hidden);
const layers = Number(values.layers);
const vocab = Number(values.vocab);
const promptLen = Number(values.prompt);
const newTokens = Number(values.new);
const repeat = Number(values.repeat);
const threads = values.threads ? Number(values.threads) : undefined;
const attention = values.attention as AttentionImpl;

const root = await mkdtemp(join(tmpdir(), "expo-bench-inf-"));
try {
  const common = { hiddenSize: hidden, layers, heads: Number(values.heads), kvHeads: Number(values["kv-heads"]), vocabSize: vocab, intermediateSize: hidden * 4, architecture: "llama" as const };
  await writeTinyModel({ dir: join(root, "lm"), ...common });
  await writeTinyModel({ dir: join(root, "rm"), ...common, head: "reward" });
  console.log(`model: llama, ${layers} layers, hidden ${hidden}, heads ${values.heads}/${values["kv-heads"]} kv, intermediate ${hidden * 4}, vocab ${vocab}; attention ${attention}; threads ${threads ?? "ORT default"}; ${repeat} runs, best shown`);

  let t = performance.now();
  const lm = await CausalLMEngine.load(join(root, "lm"), { threads, attention });
  console.log(`load + graph build + session: ${(performance.now() - t).toFixed(0)} ms`);
  const tokenLimit = 256; // byte tokens: valid for the synthetic tokenizer
  const prompt = (b: number, n = promptLen) => Array.from({ length: n }, (_, i) => 1 + ((i * 31 + b * 7) % (tokenLimit - 1)));

  const best = async <T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> => {
    let bestMs = Infinity;
    let value!: T;
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      value = await fn();
      bestMs = Math.min(bestMs, performance.now() - t0);
    }
    return { ms: bestMs, value };
  };

  // Prefill: one forward over the prompt, last-token logits.
  for (const batch of [1, 8]) {
    const ids = Array.from({ length: batch }, (_, b) => prompt(b)).flat();
    const { ms } = await best(() =>
      lm.runner.forward({ batch, seq: promptLen, inputIds: ids, attentionMask: ids.map(() => 1), positionIds: Array.from({ length: batch }, () => Array.from({ length: promptLen }, (_, i) => i)).flat(), keep: 1 }),
    );
    console.log(`prefill  batch ${batch}, ${promptLen} tokens: ${((batch * promptLen) / (ms / 1000)).toFixed(0)} tokens/s (${ms.toFixed(1)} ms)`);
  }

  // Decode: greedy, eos ignored, prompt 32 tokens, `newTokens` new ones.
  for (const useCache of [true, false]) {
    for (const batch of [1, 8]) {
      const prompts = Array.from({ length: batch }, (_, b) => prompt(b, 32));
      const { value: stats } = await best(async () => {
        await lm.generateTokenIds(prompts, { maxNewTokens: newTokens, greedy: true, ignoreEos: true, useCache, batchSize: batch });
        return lm.lastStats;
      });
      console.log(
        `decode   batch ${batch}, ${useCache ? "KV cache   " : "no cache   "}: ${(stats.decodeTokens / (stats.decodeMs / 1000)).toFixed(0)} tokens/s ` +
          `(${stats.decodeTokens} tokens after a 32-token prompt; ${(stats.decodeMs / (stats.decodeTokens / batch)).toFixed(2)} ms/step)`,
      );
    }
  }
  // Sampled decoding (temperature 0.7, top-p 0.9, top-k 50): the sampler's cost included.
  for (const batch of [1, 8]) {
    const prompts = Array.from({ length: batch }, (_, b) => prompt(b, 32));
    const { value: stats } = await best(async () => {
      await lm.generateTokenIds(prompts, { maxNewTokens: newTokens, temperature: 0.7, topP: 0.9, topK: 50, seed: 1, ignoreEos: true, batchSize: batch });
      return lm.lastStats;
    });
    console.log(`decode   batch ${batch}, KV cache, sampled T=0.7 top-p 0.9 top-k 50: ${(stats.decodeTokens / (stats.decodeMs / 1000)).toFixed(0)} tokens/s`);
  }
  await lm.close();

  t = performance.now();
  const rm_ = await RewardEngine.load(join(root, "rm"), { threads, attention });
  console.log(`reward model load: ${(performance.now() - t).toFixed(0)} ms`);
  for (const len of [64, 256]) {
    const seqs = Array.from({ length: 32 }, (_, b) => prompt(b, len - (b % 5) * 4));
    const { ms } = await best(() => rm_.scoreTokenIds(seqs, { batchSize: 8 }));
    console.log(`reward   32 sequences of ~${len} tokens, batch 8: ${(32 / (ms / 1000)).toFixed(1)} sequences/s (${ms.toFixed(0)} ms)`);
  }
  await rm_.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
