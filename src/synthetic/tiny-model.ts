/**
 * Generates tiny, random, *synthetic* transformers model folders (Llama, Mistral, Qwen2, Qwen3;
 * causal LM or sequence-classification reward head) for tests, benchmarks and the demo.
 * Every folder says it is synthetic in its config (`_synthetic: true`) and card.
 *
 * - `writeTinyModel` draws an independent model from a seed (θ0, or an unrelated model);
 * - `deriveTinyModel` writes θ1 = θ0 + Δ with a small Gaussian or caller-given Δ, the way
 *   fine-tuning moves weights, keeping θ0's tokenizer (optionally with appended tokens).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cardFrontMatter } from "./card.js";
import { encodeFloats } from "../safetensors/codec.js";
import { torchDtypeName, type FloatDtype } from "../safetensors/dtype.js";
import { formatShardIndex, INDEX_FILE, shardFileName, SINGLE_FILE } from "../safetensors/shard-index.js";
import { serializeSafetensors, type TensorSpec } from "../safetensors/writer.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { readModelConfig, type ModelConfig, type RopeScaling } from "../checkpoint/config.js";
import { hashString, mulberry32, normalSampler } from "../util/random.js";
import { tinyTokenizer } from "./tokenizer.js";

export type TinyArchitecture = "llama" | "mistral" | "qwen2" | "qwen3";

export interface TinyModelOptions {
  dir: string;
  architecture?: TinyArchitecture;
  /** "causal" (…ForCausalLM) or "reward" (…ForSequenceClassification, one label). */
  head?: "causal" | "reward";
  hiddenSize?: number;
  intermediateSize?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  /** Per-head dimension (default hiddenSize / heads; Qwen3 configs set it independently). */
  headDim?: number;
  /** Tokens appended to the tokenizer and embedding rows (a fine-tune growing the vocabulary). */
  extraTokens?: string[];
  /** Pad the embedding matrix to this many rows (≥ the tokenizer's size), as many real models do. */
  vocabSize?: number;
  tieEmbeddings?: boolean;
  dtype?: FloatDtype;
  seed?: number;
  /** Split the weights into this many shards (1 = a single model.safetensors). */
  shards?: number;
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  slidingWindow?: number | null;
  maxPositionEmbeddings?: number;
  /** Omit the chat template (looks like a base model). */
  withChatTemplate?: boolean;
  /** Card metadata (YAML front matter of README.md), e.g. base_model and tags. */
  card?: Record<string, unknown>;
  /** Weight init scale (HF's initializer_range). */
  initStd?: number;
  /** Edits each tensor's values in place before they are written (hand-built models for the demo). */
  adjust?: (name: string, values: Float64Array, shape: number[]) => void;
}

export interface TinyModel {
  dir: string;
  config: ModelConfig;
  tensors: TensorSpec[];
}

export interface ResolvedShape {
  arch: TinyArchitecture;
  head: "causal" | "reward";
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  tie: boolean;
  qkvBias: boolean;
  /** Qwen3's per-head q_norm / k_norm. */
  qkNorm: boolean;
}

/** Tensor names and shapes of a Llama-family checkpoint, in transformers' naming. */
export function tensorLayout(s: ResolvedShape): Array<{ name: string; shape: number[]; kind: "weight" | "norm" | "bias" }> {
  const out: Array<{ name: string; shape: number[]; kind: "weight" | "norm" | "bias" }> = [];
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  out.push({ name: "model.embed_tokens.weight", shape: [s.vocab, s.hidden], kind: "weight" });
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [s.hidden], kind: "norm" });
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [q, s.hidden], kind: "weight" });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [kv, s.hidden], kind: "weight" });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [kv, s.hidden], kind: "weight" });
    if (s.qkvBias) {
      out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [q], kind: "bias" });
      out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kv], kind: "bias" });
      out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kv], kind: "bias" });
    }
    if (s.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [s.headDim], kind: "norm" });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [s.headDim], kind: "norm" });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [s.hidden, q], kind: "weight" });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [s.hidden], kind: "norm" });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [s.inter, s.hidden], kind: "weight" });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [s.inter, s.hidden], kind: "weight" });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [s.hidden, s.inter], kind: "weight" });
  }
  out.push({ name: "model.norm.weight", shape: [s.hidden], kind: "norm" });
  if (s.head === "reward") out.push({ name: "score.weight", shape: [1, s.hidden], kind: "weight" });
  else if (!s.tie) out.push({ name: "lm_head.weight", shape: [s.vocab, s.hidden], kind: "weight" });
  return out;
}

const ARCH_NAMES: Record<TinyArchitecture, { type: string; causal: string; reward: string }> = {
  llama: { type: "llama", causal: "LlamaForCausalLM", reward: "LlamaForSequenceClassification" },
  mistral: { type: "mistral", causal: "MistralForCausalLM", reward: "MistralForSequenceClassification" },
  qwen2: { type: "qwen2", causal: "Qwen2ForCausalLM", reward: "Qwen2ForSequenceClassification" },
  qwen3: { type: "qwen3", causal: "Qwen3ForCausalLM", reward: "Qwen3ForSequenceClassification" },
};

export async function writeTinyModel(options: TinyModelOptions): Promise<TinyModel> {
  const seed = options.seed ?? 0;
  const std = options.initStd ?? 0.02;
  return writeModelFolder(options, (name, shape, kind) => {
    const normal = normalSampler(mulberry32(hashString(name) ^ Math.imul(seed + 1, 0x9e3779b1)));
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = kind === "norm" ? 1 + 0.05 * normal() : kind === "bias" ? 0.02 * normal() : std * normal();
    return values;
  });
}

export interface DeriveOptions extends Omit<TinyModelOptions, "architecture" | "head" | "hiddenSize" | "intermediateSize" | "layers" | "heads" | "kvHeads" | "headDim" | "tieEmbeddings"> {
  /** θ0's folder. */
  from: string;
  /** Gaussian Δ with this std relative to each tensor's RMS (fine-tuning moves weights ~1e-3–1e-2). */
  relativeDelta?: number;
  /** Or an explicit Δ per tensor (values for θ0's shape; rows of appended tokens get fresh values). */
  delta?: (name: string, theta0: Float64Array, shape: number[]) => Float64Array | null;
}

/** θ1 = θ0 + Δ, written as a complete model folder. Appended tokens get new random rows. */
export async function deriveTinyModel(options: DeriveOptions): Promise<TinyModel> {
  const base = await readModelConfig(options.from);
  const weights = await openModelWeights(options.from);
  const seed = options.seed ?? 1;
  const rel = options.relativeDelta ?? 0.01;
  try {
    const archEntry = Object.entries(ARCH_NAMES).find(([, v]) => v.type === base.model_type);
    if (!archEntry) throw new Error(`${options.from}: not a synthetic Llama/Mistral/Qwen2/Qwen3 model`);
    const isReward = base.architectures?.[0]?.endsWith("ForSequenceClassification") ?? false;
    const theta0 = new Map<string, { values: Float64Array; shape: number[] }>();
    for (const name of weights.names()) {
      const { info } = weights.get(name);
      theta0.set(name, { values: Float64Array.from(await weights.readFloat32(name)), shape: info.shape });
    }
    return await writeModelFolder(
      {
        ...options,
        architecture: archEntry[0] as TinyArchitecture,
        head: isReward ? "reward" : "causal",
        hiddenSize: base.hidden_size,
        intermediateSize: base.intermediate_size,
        layers: base.num_hidden_layers,
        heads: base.num_attention_heads,
        kvHeads: base.num_key_value_heads,
        headDim: base.head_dim,
        tieEmbeddings: base.tie_word_embeddings,
        ropeTheta: options.ropeTheta ?? base.rope_theta,
        ropeScaling: options.ropeScaling ?? base.rope_scaling,
        slidingWindow: options.slidingWindow ?? base.sliding_window,
        withChatTemplate: options.withChatTemplate,
      },
      (name, shape) => {
        const t0 = theta0.get(name);
        const n = shape.reduce((a, b) => a * b, 1);
        const out = new Float64Array(n);
        const normal = normalSampler(mulberry32(hashString(name) ^ Math.imul(seed + 7, 0x85ebca6b)));
        if (!t0) throw new Error(`θ0 has no tensor "${name}"`);
        out.set(t0.values.subarray(0, Math.min(n, t0.values.length)));
        let rms = 0;
        for (const v of t0.values) rms += v * v;
        rms = Math.sqrt(rms / t0.values.length);
        // Rows beyond θ0's vocabulary (appended tokens): fresh values at θ0's scale.
        for (let i = t0.values.length; i < n; i++) out[i] = rms * normal();
        const explicit = options.delta?.(name, t0.values, t0.shape);
        if (explicit) {
          for (let i = 0; i < explicit.length; i++) out[i] += explicit[i];
        } else {
          for (let i = 0; i < t0.values.length; i++) out[i] += rel * rms * normal();
        }
        return out;
      },
    );
  } finally {
    await weights.close();
  }
}

async function writeModelFolder(
  options: TinyModelOptions,
  valuesFor: (name: string, shape: number[], kind: "weight" | "norm" | "bias") => Float64Array,
): Promise<TinyModel> {
  const arch = options.architecture ?? "llama";
  const head = options.head ?? "causal";
  const hidden = options.hiddenSize ?? 64;
  const heads = options.heads ?? 4;
  const tok = tinyTokenizer({ extraTokens: options.extraTokens, withChatTemplate: options.withChatTemplate });
  const vocab = Math.max(options.vocabSize ?? tok.size, tok.size);
  const shape: ResolvedShape = {
    arch,
    head,
    hidden,
    inter: options.intermediateSize ?? hidden * 2,
    layers: options.layers ?? 2,
    heads,
    kvHeads: options.kvHeads ?? heads,
    headDim: options.headDim ?? hidden / heads,
    vocab,
    tie: options.tieEmbeddings ?? false,
    qkvBias: arch === "qwen2",
    qkNorm: arch === "qwen3",
  };
  if (!Number.isInteger(shape.headDim)) throw new Error(`hiddenSize ${hidden} is not divisible by heads ${heads}`);
  const dtype = options.dtype ?? "F32";
  const names = ARCH_NAMES[arch];
  const config: ModelConfig = {
    _synthetic: true,
    _comment: "SYNTHETIC tiny model generated by expo-bot for tests and demos; not a real language model.",
    architectures: [head === "reward" ? names.reward : names.causal],
    model_type: names.type,
    hidden_size: hidden,
    intermediate_size: shape.inter,
    num_hidden_layers: shape.layers,
    num_attention_heads: heads,
    num_key_value_heads: shape.kvHeads,
    head_dim: shape.headDim,
    vocab_size: vocab,
    hidden_act: "silu",
    rms_norm_eps: 1e-6,
    rope_theta: options.ropeTheta ?? 10000,
    rope_scaling: options.ropeScaling ?? null,
    max_position_embeddings: options.maxPositionEmbeddings ?? 512,
    tie_word_embeddings: shape.tie,
    torch_dtype: torchDtypeName(dtype),
    bos_token_id: null,
    eos_token_id: tok.eosId,
    pad_token_id: tok.padId,
    initializer_range: options.initStd ?? 0.02,
    ...(arch === "mistral" ? { sliding_window: options.slidingWindow ?? 4096 } : {}),
    ...(arch === "qwen2" || arch === "qwen3" ? { sliding_window: options.slidingWindow ?? 4096, use_sliding_window: false } : {}),
    ...(arch === "qwen3" ? { attention_bias: false } : {}),
    ...(head === "reward" ? { num_labels: 1, id2label: { "0": "LABEL_0" }, label2id: { LABEL_0: 0 } } : {}),
  };
  const layout = tensorLayout(shape);
  const tensors = layout.map(({ name, shape: s, kind }) => {
    const values = valuesFor(name, s, kind);
    options.adjust?.(name, values, s);
    return { name, dtype, shape: s, data: encodeFloats(dtype, values) };
  });

  await mkdir(options.dir, { recursive: true });
  const shardCount = Math.max(1, Math.min(options.shards ?? 1, tensors.length));
  if (shardCount === 1) {
    await writeFile(join(options.dir, SINGLE_FILE), serializeSafetensors(tensors, { format: "pt" }));
  } else {
    // Contiguous groups of roughly equal bytes, in layout order (as transformers shards).
    const total = tensors.reduce((s, t) => s + t.data.byteLength, 0);
    const groups: (typeof tensors)[] = Array.from({ length: shardCount }, () => []);
    let acc = 0;
    for (const t of tensors) {
      const g = Math.min(shardCount - 1, Math.floor((acc / total) * shardCount));
      groups[g].push(t);
      acc += t.data.byteLength;
    }
    const nonEmpty = groups.filter((g) => g.length > 0);
    const weightMap: [string, string][] = [];
    for (let i = 0; i < nonEmpty.length; i++) {
      const file = shardFileName(i, nonEmpty.length);
      await writeFile(join(options.dir, file), serializeSafetensors(nonEmpty[i], { format: "pt" }));
      for (const t of nonEmpty[i]) weightMap.push([t.name, file]);
    }
    await writeFile(join(options.dir, INDEX_FILE), formatShardIndex(weightMap, total));
  }
  const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  await writeFile(join(options.dir, "config.json"), json(config));
  if (head === "causal") {
    await writeFile(join(options.dir, "generation_config.json"), json({ _synthetic: true, eos_token_id: tok.eosId, pad_token_id: tok.padId, do_sample: true, temperature: 0.7, top_p: 0.9 }));
  }
  await writeFile(join(options.dir, "tokenizer.json"), json(tok.tokenizerJson));
  await writeFile(join(options.dir, "tokenizer_config.json"), json(tok.tokenizerConfig));
  await writeFile(join(options.dir, "special_tokens_map.json"), json(tok.specialTokensMap));
  await writeFile(join(options.dir, "README.md"), cardFrontMatter(options.card ?? {}) + "\n# Synthetic tiny model\n\nGenerated by expo-bot for tests and demos. SYNTHETIC: random weights, not a real language model.\n");
  return { dir: options.dir, config, tensors: tensors.map(({ name, dtype: d, shape: s }) => ({ name, dtype: d, shape: s })) };
}

