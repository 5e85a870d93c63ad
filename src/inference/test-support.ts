/**
 * Shared by the inference specs, scripts/gpu-check/prepare.ts and the benchmark: the tiny
 * checkpoint matrix (one per architecture and option) and error measures.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeTinyModel, type TinyModelOptions } from "../synthetic/tiny-model.js";

export interface TinyCase {
  name: string;
  options: Omit<TinyModelOptions, "dir">;
  /** Extra config.json fields written after generation (options writeTinyModel does not expose). */
  configPatch?: Record<string, unknown>;
  /** A token sequence long enough to exercise the option (e.g. longer than the sliding window). */
  seqLen: number;
}

const LLAMA3_ROPE = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };

/** Tiny (hidden 32, 2 layers) checkpoints covering each architecture and option. */
export const TINY_CASES: TinyCase[] = [
  { name: "llama-mha-f32", options: { architecture: "llama", hiddenSize: 32, heads: 4 }, seqLen: 9 },
  { name: "llama-gqa-tied-llama3rope-f16", options: { architecture: "llama", hiddenSize: 32, heads: 4, kvHeads: 2, tieEmbeddings: true, dtype: "F16", ropeTheta: 500000, ropeScaling: LLAMA3_ROPE }, seqLen: 12 },
  { name: "mistral-gqa-window4", options: { architecture: "mistral", hiddenSize: 32, heads: 4, kvHeads: 1, slidingWindow: 4 }, seqLen: 12 },
  { name: "qwen2-bias-bf16-sharded", options: { architecture: "qwen2", hiddenSize: 32, heads: 4, kvHeads: 2, dtype: "BF16", shards: 3 }, seqLen: 10 },
  {
    name: "qwen2-window3-layer1",
    options: { architecture: "qwen2", hiddenSize: 32, heads: 4, kvHeads: 2, slidingWindow: 3, tieEmbeddings: true },
    configPatch: { use_sliding_window: true, max_window_layers: 1 },
    seqLen: 10,
  },
  // Qwen3: per-head q/k RMSNorm, head_dim (16) independent of hidden / heads (8), BF16, tied.
  { name: "qwen3-qknorm-headdim16-bf16-tied", options: { architecture: "qwen3", hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 16, dtype: "BF16", tieEmbeddings: true, ropeTheta: 1000000 }, seqLen: 10 },
];

export const TINY_REWARD_CASES: TinyCase[] = [
  { name: "mistral-reward", options: { architecture: "mistral", head: "reward", hiddenSize: 32, heads: 4, kvHeads: 2, slidingWindow: 4 }, seqLen: 10 },
  { name: "llama-reward-bf16", options: { architecture: "llama", head: "reward", hiddenSize: 32, heads: 4, dtype: "BF16" }, seqLen: 8 },
  { name: "qwen2-reward", options: { architecture: "qwen2", head: "reward", hiddenSize: 32, heads: 4, kvHeads: 1 }, seqLen: 9 },
  { name: "qwen3-reward", options: { architecture: "qwen3", head: "reward", hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 16 }, seqLen: 9 },
];

export async function writeTinyCase(root: string, c: TinyCase, seed = 0): Promise<string> {
  const dir = join(root, c.name);
  // A larger init than transformers' 0.02 makes attention sharp, so that masks, windows and
  // rotary details change the logits well beyond the tolerance.
  await writeTinyModel({ dir, seed, initStd: 0.15, ...c.options });
  if (c.configPatch) {
    const path = join(dir, "config.json");
    const config = JSON.parse(await readFile(path, "utf8"));
    await writeFile(path, JSON.stringify({ ...config, ...c.configPatch }, null, 2) + "\n");
  }
  return dir;
}

/** Deterministic token ids in [1, limit). */
export function tokenSequence(length: number, limit: number, salt = 0): number[] {
  return Array.from({ length }, (_, i) => 1 + ((i * 37 + salt * 101 + 11) % (limit - 1)));
}

/** max |a − b| / max |b|: the relative error used throughout (b is the reference). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
