/**
 * Real-shaped synthetic checkpoints for benchmarks: the tensor layout and config of a real
 * model (Qwen2-0.5B, Qwen3-0.6B, Llama-3.2-1B) with random bf16 weights, streamed to sharded
 * safetensors without holding a tensor in memory. `writeShapedPair` writes θ0 and
 * θ1 = θ0 + a small Δ (what fine-tuning does), in one pass.
 *
 * The tokenizer is the tiny synthetic one; the embedding is padded to the real vocabulary, so
 * prompts are given as token ids. SYNTHETIC: random weights, not a language model.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ModelConfig } from "../checkpoint/config.js";
import { formatShardIndex, INDEX_FILE, shardFileName } from "../safetensors/shard-index.js";
import { writeSafetensors, tensorByteLength, type TensorSpec } from "../safetensors/writer.js";
import { hashString } from "../util/random.js";
import { tensorLayout, type ResolvedShape } from "./tiny-model.js";
import { tinyTokenizer } from "./tokenizer.js";

export interface ModelShape {
  architecture: "llama" | "qwen2" | "qwen3";
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  tie: boolean;
  ropeTheta: number;
  ropeScaling?: Record<string, unknown>;
}

export const MODEL_SHAPES: Record<string, ModelShape> = {
  "qwen2-0.5b": { architecture: "qwen2", hidden: 896, intermediate: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64, vocab: 151936, tie: true, ropeTheta: 1000000 },
  "qwen3-0.6b": { architecture: "qwen3", hidden: 1024, intermediate: 3072, layers: 28, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936, tie: true, ropeTheta: 1000000 },
  "llama3.2-1b": {
    architecture: "llama",
    hidden: 2048,
    intermediate: 8192,
    layers: 16,
    heads: 32,
    kvHeads: 8,
    headDim: 64,
    vocab: 128256,
    tie: true,
    ropeTheta: 500000,
    ropeScaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  },
};

const NAMES = {
  llama: ["llama", "LlamaForCausalLM"],
  qwen2: ["qwen2", "Qwen2ForCausalLM"],
  qwen3: ["qwen3", "Qwen3ForCausalLM"],
} as const;

export interface ShapedPairOptions {
  shape: ModelShape;
  /** θ0 is written here, θ1 to `theta1Dir` (omit for θ0 alone). */
  theta0Dir: string;
  theta1Dir?: string;
  shards?: number;
  seed?: number;
  /** Init scale (HF's initializer_range). */
  std?: number;
  /** Δ's scale relative to `std`. */
  relativeDelta?: number;
}

/** Parameter count of a shape (what the layout holds). */
export function shapeParameters(shape: ModelShape): number {
  return layoutOf(shape).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

function layoutOf(shape: ModelShape) {
  const resolved: ResolvedShape = {
    arch: shape.architecture,
    head: "causal",
    hidden: shape.hidden,
    inter: shape.intermediate,
    layers: shape.layers,
    heads: shape.heads,
    kvHeads: shape.kvHeads,
    headDim: shape.headDim,
    vocab: shape.vocab,
    tie: shape.tie,
    qkvBias: shape.architecture === "qwen2",
    qkNorm: shape.architecture === "qwen3",
  };
  return tensorLayout(resolved);
}

/** Writes θ0 (and θ1 = θ0 + Δ) as bf16, sharded like transformers does. */
export async function writeShapedPair(options: ShapedPairOptions): Promise<void> {
  const { shape } = options;
  const layout = layoutOf(shape);
  const std = options.std ?? 0.02;
  const rel = options.relativeDelta ?? 0.01;
  const seed = options.seed ?? 0;
  const specs: (TensorSpec & { kind: string })[] = layout.map((t) => ({ name: t.name, dtype: "BF16", shape: t.shape, kind: t.kind }));
  const total = specs.reduce((s, t) => s + tensorByteLength(t), 0);
  const shardCount = Math.max(1, options.shards ?? 2);
  const groups: (typeof specs)[] = Array.from({ length: shardCount }, () => []);
  let acc = 0;
  for (const t of specs) {
    groups[Math.min(shardCount - 1, Math.floor((acc / total) * shardCount))].push(t);
    acc += tensorByteLength(t);
  }
  const dirs = [options.theta0Dir, ...(options.theta1Dir ? [options.theta1Dir] : [])];
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  const weightMap: [string, string][] = [];
  const kinds = new Map(specs.map((s) => [s.name, s.kind]));
  for (const [i, group] of groups.entries()) {
    const file = shardFileName(i, groups.length);
    for (const t of group) weightMap.push([t.name, file]);
    // θ1 regenerates θ0's stream (the generator is deterministic) instead of keeping it: memory stays at one chunk.
    await writeSafetensors(join(options.theta0Dir, file), group, function* (spec) {
      for (const [c0] of randomBf16(spec, kinds.get(spec.name)!, std, rel, seed)) yield c0;
    });
    if (options.theta1Dir) {
      await writeSafetensors(join(options.theta1Dir, file), group, function* (spec) {
        for (const [, c1] of randomBf16(spec, kinds.get(spec.name)!, std, rel, seed)) yield c1;
      });
    }
  }
  const [modelType, architecture] = NAMES[shape.architecture];
  const tok = tinyTokenizer();
  const config: ModelConfig = {
    _synthetic: true,
    _comment: "SYNTHETIC real-shaped model generated by expo-bot for benchmarks: random weights, not a language model.",
    architectures: [architecture],
    model_type: modelType,
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    head_dim: shape.headDim,
    vocab_size: shape.vocab,
    hidden_act: "silu",
    rms_norm_eps: 1e-6,
    rope_theta: shape.ropeTheta,
    rope_scaling: (shape.ropeScaling as ModelConfig["rope_scaling"]) ?? null,
    max_position_embeddings: 32768,
    tie_word_embeddings: shape.tie,
    torch_dtype: "bfloat16",
    bos_token_id: null,
    eos_token_id: tok.eosId,
    pad_token_id: tok.padId,
    initializer_range: std,
    ...(shape.architecture !== "llama" ? { sliding_window: 32768, use_sliding_window: false, max_window_layers: shape.layers } : {}),
    ...(shape.architecture === "qwen3" ? { attention_bias: false } : {}),
  };
  const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  for (const dir of dirs) {
    await writeFile(join(dir, INDEX_FILE), formatShardIndex(weightMap, total));
    await writeFile(join(dir, "config.json"), json(config));
    await writeFile(join(dir, "generation_config.json"), json({ _synthetic: true, eos_token_id: tok.eosId, pad_token_id: tok.padId }));
    await writeFile(join(dir, "tokenizer.json"), json(tok.tokenizerJson));
    await writeFile(join(dir, "tokenizer_config.json"), json(tok.tokenizerConfig));
    await writeFile(join(dir, "special_tokens_map.json"), json(tok.specialTokensMap));
  }
}

const CHUNK = 1 << 20;

/** [θ0, θ1] bf16 chunks of one tensor: uniform noise of the given std (norms ≈ 1), θ1 = θ0 + rel·std·noise. */
function* randomBf16(spec: TensorSpec, kind: string, std: number, rel: number, seed: number): Generator<[Uint8Array, Uint8Array]> {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  let state = (hashString(spec.name) ^ Math.imul(seed + 1, 0x9e3779b1)) >>> 0 || 1;
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  // bf16 by rounding to nearest even (values are finite and small).
  const bf16 = (v: number) => {
    f32[0] = v;
    const x = u32[0];
    return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  };
  const scale = std * Math.sqrt(3) * 2; // uniform in [−√3·std, √3·std) has std `std`
  for (let at = 0; at < n; at += CHUNK) {
    const m = Math.min(CHUNK, n - at);
    const a = new Uint16Array(m);
    const b = new Uint16Array(m);
    for (let i = 0; i < m; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const u = (state >>> 0) / 4294967296 - 0.5;
      const v0 = kind === "norm" ? 1 + 0.1 * u : kind === "bias" ? 0.02 * u : scale * u;
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const d = ((state >>> 0) / 4294967296 - 0.5) * scale * rel;
      a[i] = bf16(v0);
      b[i] = bf16(v0 + d);
    }
    yield [new Uint8Array(a.buffer), new Uint8Array(b.buffer)];
  }
}
