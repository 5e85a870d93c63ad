/**
 * Tiny, *synthetic* PEFT LoRA adapters for a tiny base model (src/synthetic/tiny-model.ts),
 * written in PEFT's own layout (adapter_config.json with PEFT's field names, tensors keyed
 * `base_model.model.<module>.lora_A.weight` [r, in] / `….lora_B.weight` [out, r], full
 * `modules_to_save` tensors keyed `base_model.model.<name>`), so tests need no Python.
 *
 * Variants: plain LoRA, rsLoRA, rank/alpha patterns, `modules_to_save` (optionally with a
 * grown vocabulary), DoRA (magnitude vectors; refused by the reader), and any base — pass an
 * unrelated base to get an adapter made for a different model.
 */
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cardFrontMatter } from "./card.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, PEFT_KEY_PREFIX } from "../checkpoint/adapter.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { encodeFloats } from "../safetensors/codec.js";
import type { FloatDtype } from "../safetensors/dtype.js";
import { serializeSafetensors, type TensorSpec } from "../safetensors/writer.js";
import { hashString, mulberry32, normalSampler } from "../util/random.js";

export interface TinyAdapterOptions {
  /** The base model folder the adapter is made for (its shapes). */
  base: string;
  dir: string;
  /** `base_model_name_or_path` written in the config (and `base_model` in the card). */
  baseModelName?: string;
  r?: number;
  loraAlpha?: number;
  useRslora?: boolean;
  /** Module name suffixes (PEFT's list form), default q_proj and v_proj. */
  targetModules?: string[];
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  /** Full tensors saved beside the LoRA ones, e.g. ["lm_head"]: θ0's tensor + a small Δ. */
  modulesToSave?: string[];
  /** Rows appended to saved embedding/lm_head tensors (a fine-tune that grew the vocabulary). */
  extraVocabRows?: number;
  useDora?: boolean;
  dtype?: FloatDtype;
  seed?: number;
  /** Size of s·B·A relative to the base weight's RMS (default 0.02). */
  relativeUpdate?: number;
  card?: Record<string, unknown>;
  /** Copy the base folder's tokenizer files (TRL saves the tokenizer beside the adapter). */
  withTokenizer?: boolean;
  /** Hand-set factors for a module (the demo's); null keeps the random ones. A is [rank, in], B [out, rank], row-major. */
  factors?: (module: string, shape: { out: number; in: number; rank: number; scale: number }) => { a: Float64Array; b: Float64Array } | null;
}

export interface TinyAdapter {
  dir: string;
  config: Record<string, unknown>;
  tensors: TensorSpec[];
}

function patternFor(patterns: Record<string, number>, module: string): number | undefined {
  for (const [p, v] of Object.entries(patterns)) if (new RegExp(`^(.*\\.)?(${p})$`).test(module)) return v;
  return undefined;
}

export async function writeTinyAdapter(options: TinyAdapterOptions): Promise<TinyAdapter> {
  const r = options.r ?? 4;
  const loraAlpha = options.loraAlpha ?? 8;
  const targets = options.targetModules ?? ["q_proj", "v_proj"];
  const dtype = options.dtype ?? "F32";
  const seed = options.seed ?? 3;
  const rel = options.relativeUpdate ?? 0.02;
  const rankPattern = options.rankPattern ?? {};
  const alphaPattern = options.alphaPattern ?? {};
  const base = await openModelWeights(options.base);
  const tensors: Array<TensorSpec & { data: Uint8Array }> = [];
  try {
    for (const name of base.names()) {
      const { info } = base.get(name);
      const normal = normalSampler(mulberry32(hashString(name) ^ Math.imul(seed + 5, 0x27d4eb2d)));
      const module = name.replace(/\.weight$/, "");
      const values = await base.readFloat32(name);
      let rms = 0;
      for (const v of values) rms += v * v;
      rms = Math.sqrt(rms / values.length);
      const leaf = module.split(".").pop()!;
      if (name.endsWith(".weight") && info.shape.length === 2 && targets.includes(leaf) && !/embed/.test(leaf)) {
        const [out, inF] = info.shape;
        const rank = patternFor(rankPattern, module) ?? r;
        const alpha = patternFor(alphaPattern, module) ?? loraAlpha;
        const s = options.useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
        // A ~ N(0, 1/in) as PEFT's kaiming init roughly gives; B sized so s·B·A ≈ rel·rms per element.
        const given = options.factors?.(module, { out, in: inF, rank, scale: s }) ?? null;
        const a = given?.a ?? Float64Array.from({ length: rank * inF }, () => normal() / Math.sqrt(inF));
        const bStd = (rel * rms) / (s * Math.sqrt(rank / inF) || 1);
        const b = given?.b ?? Float64Array.from({ length: out * rank }, () => bStd * normal());
        tensors.push({ name: `${PEFT_KEY_PREFIX}${module}.lora_A.weight`, dtype, shape: [rank, inF], data: encodeFloats(dtype, a) });
        tensors.push({ name: `${PEFT_KEY_PREFIX}${module}.lora_B.weight`, dtype, shape: [out, rank], data: encodeFloats(dtype, b) });
        if (options.useDora) {
          const mag = Float64Array.from({ length: out }, () => 1 + 0.01 * normal());
          tensors.push({ name: `${PEFT_KEY_PREFIX}${module}.lora_magnitude_vector`, dtype, shape: [out], data: encodeFloats(dtype, mag) });
        }
      } else if ((options.modulesToSave ?? []).includes(leaf)) {
        const vocabLike = /embed_tokens|lm_head/.test(leaf);
        const extra = vocabLike ? (options.extraVocabRows ?? 0) : 0;
        const shape = [info.shape[0] + extra, ...info.shape.slice(1)];
        const full = new Float64Array(shape.reduce((x, y) => x * y, 1));
        for (let i = 0; i < values.length; i++) full[i] = values[i] + rel * rms * normal();
        for (let i = values.length; i < full.length; i++) full[i] = rms * normal();
        tensors.push({ name: `${PEFT_KEY_PREFIX}${name}`, dtype, shape, data: encodeFloats(dtype, full) });
      }
    }
  } finally {
    await base.close();
  }
  // Field names and defaults as PEFT's LoraConfig.save_pretrained writes them.
  const config: Record<string, unknown> = {
    _synthetic: true,
    alpha_pattern: alphaPattern,
    auto_mapping: null,
    base_model_name_or_path: options.baseModelName ?? options.base,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: loraAlpha,
    lora_dropout: 0.05,
    modules_to_save: options.modulesToSave ?? null,
    peft_type: "LORA",
    r,
    rank_pattern: rankPattern,
    revision: null,
    target_modules: targets,
    task_type: "CAUSAL_LM",
    use_dora: options.useDora ?? false,
    use_rslora: options.useRslora ?? false,
  };
  await mkdir(options.dir, { recursive: true });
  await writeFile(join(options.dir, ADAPTER_WEIGHTS_FILE), serializeSafetensors(tensors, { format: "pt" }));
  await writeFile(join(options.dir, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  if (options.withTokenizer ?? true) {
    for (const f of await readdir(options.base)) if (/^(tokenizer.*|special_tokens_map)\.json$|^chat_template\.jinja$/.test(f)) await copyFile(join(options.base, f), join(options.dir, f));
  }
  const card = options.card ?? { base_model: options.baseModelName ?? options.base, library_name: "peft", tags: ["synthetic", "lora"] };
  await writeFile(join(options.dir, "README.md"), cardFrontMatter(card) + "\n# Synthetic tiny LoRA adapter\n\nGenerated by expo-bot for tests and demos. SYNTHETIC: random weights.\n");
  return { dir: options.dir, config, tensors: tensors.map(({ name, dtype: d, shape }) => ({ name, dtype: d, shape })) };
}
