/**
 * A PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`), read the
 * way PEFT writes and loads it, so that ExPO can treat it as θ1 = θ0 + s·B·A:
 *
 * - keys: `base_model.model.<module>.lora_A.weight` [r, in] and `….lora_B.weight` [out, r]
 *   (PEFT's `get_peft_model_state_dict` drops the adapter name); the base tensor is
 *   `<module>.weight`. Any other `base_model.model.<name>` key is a full tensor (a module in
 *   `modules_to_save`, or an embedding PEFT saved because the vocabulary was resized) and
 *   stands for θ1's `<name>` as a whole.
 * - scale: s = α_m / r_m, or α_m / √r_m with `use_rslora`, where r_m and α_m come from
 *   `rank_pattern` / `alpha_pattern` (PEFT's `get_pattern_key`: the first pattern P with
 *   `re.match("(.*\.)?(P)$", module)`), else `r` / `lora_alpha`.
 *
 * Everything whose update is not s·B·A is refused with the reason, before any tensor is read:
 * DoRA (its magnitude vector renormalises W0 + s·B·A column by column, not linear in the
 * update), LoRA on embeddings (stored transposed, under other names), `fan_in_fan_out`,
 * trained biases, `lora_bias`, trainable tokens, `target_parameters`, and PEFT methods other
 * than LoRA.
 */
import { parseJsonObject } from "./config.js";
import { ModelWeights, type WeightFileAccess } from "./weights.js";
import { openSafetensors } from "../safetensors/reader.js";
import { isFloatDtype } from "../safetensors/dtype.js";
import type { TensorInfo } from "../safetensors/header.js";
import { INDEX_FILE, SINGLE_FILE } from "../safetensors/shard-index.js";
import { UserError } from "../util/errors.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
/** The prefix PEFT's PeftModel puts before the base model's own parameter names. */
export const PEFT_KEY_PREFIX = "base_model.model.";

export interface LoraConfig {
  /** The file as read: rewritten, not rebuilt, when the scaled adapter is written (unknown keys kept). */
  raw: Record<string, unknown>;
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  targetModules: string[] | string | null;
  modulesToSave: string[];
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** `base_model_name_or_path`: the model the adapter was trained on (θ0), when given. */
  baseModel: string | null;
}

export interface LoraModule {
  /** The base model's module name, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  /** θ0's tensor the update adds to: `<module>.weight`, shape [out, in]. */
  baseTensor: string;
  a: string;
  b: string;
  rank: number;
  alpha: number;
  /** s = alpha / rank (or / √rank with rsLoRA). */
  scale: number;
  outFeatures: number;
  inFeatures: number;
}

export interface FullTensor {
  /** The adapter's key. */
  key: string;
  /** θ0's tensor it replaces. */
  baseTensor: string;
}

export interface LoraAdapter {
  name: string;
  config: LoraConfig;
  weights: ModelWeights;
  modules: LoraModule[];
  full: FullTensor[];
}

const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Why an adapter config cannot be extrapolated as s·B·A, one sentence each (empty: it can).
 * Kept separate from parsing so `check` can report them as refusals.
 */
export function adapterConfigProblems(raw: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const peftType = raw.peft_type;
  if (peftType !== "LORA") {
    problems.push(`peft_type is ${JSON.stringify(peftType ?? null)}, not "LORA": only LoRA adapters have the closed form θ1 = θ0 + s·B·A that ExPO scales`);
    return problems;
  }
  if (raw.use_dora === true) problems.push("use_dora is true: DoRA rescales every column of W0 + s·B·A by a learned magnitude, so the update is not linear in B·A and scaling it does not extrapolate the model");
  if (raw.fan_in_fan_out === true) problems.push("fan_in_fan_out is true (GPT-2-style Conv1D weights stored transposed): not supported for Llama/Mistral/Qwen2 bases");
  if (raw.bias !== undefined && raw.bias !== "none") problems.push(`bias is ${JSON.stringify(raw.bias)}: trained biases are not part of s·B·A (only bias "none" is supported)`);
  if (raw.lora_bias === true) problems.push("lora_bias is true: lora_B carries a bias, so the update is s·B·A + b, not s·B·A");
  if (raw.trainable_token_indices !== undefined && raw.trainable_token_indices !== null) problems.push("trainable_token_indices is set: trainable-token deltas are not a LoRA update");
  if (Array.isArray(raw.target_parameters) && raw.target_parameters.length > 0) problems.push("target_parameters is set: LoRA on raw parameters (MoE experts) is not supported");
  if (raw.use_qalora === true) problems.push("use_qalora is true: QA-LoRA pools the input before A, so the update is not s·B·A on W0");
  if (raw.layer_replication !== undefined && raw.layer_replication !== null) problems.push("layer_replication is set: the adapted model has layers θ0 lacks");
  // PiSSA, OLoRA and CorDA subtract the initial adapter from the base weights, LoftQ re-quantises
  // them: the adapter is an update to that residual base, not to θ0, until it is converted
  // (save_pretrained(path_initial_model_for_weight_conversion=…), which writes init_lora_weights: true).
  const init = raw.init_lora_weights;
  if (typeof init === "string" && /^(pissa|olora|corda|loftq)/i.test(init)) problems.push(`init_lora_weights is "${init}": the adapter was trained on a base with its initial adapter subtracted (or re-quantised), so it is not θ1 − θ0; convert it with save_pretrained(path_initial_model_for_weight_conversion=…) first`);
  if (!Number.isSafeInteger(raw.r) || (raw.r as number) <= 0) problems.push(`"r" must be a positive integer, got ${JSON.stringify(raw.r)}`);
  if (!num(raw.lora_alpha)) problems.push(`"lora_alpha" must be a finite number, got ${JSON.stringify(raw.lora_alpha)}`);
  for (const key of ["rank_pattern", "alpha_pattern"] as const) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "object" || Array.isArray(v)) problems.push(`"${key}" must be an object, got ${JSON.stringify(v)}`);
    else for (const [p, x] of Object.entries(v)) if (!num(x) || (key === "rank_pattern" && !(Number.isSafeInteger(x) && x > 0))) problems.push(`"${key}" entry "${p}" must be a ${key === "rank_pattern" ? "positive integer" : "number"}, got ${JSON.stringify(x)}`);
  }
  return problems;
}

/** Parses adapter_config.json; refuses, with every reason, anything that is not a plain LoRA. */
export function parseAdapterConfig(text: string, source: string): LoraConfig {
  const r = parseJsonObject(text, source);
  const problems = adapterConfigProblems(r);
  if (problems.length) throw new UserError(`${source}: this adapter cannot be extrapolated:\n  - ${problems.join("\n  - ")}`, { exitCode: 3 });
  const target = r.target_modules;
  return {
    raw: r,
    r: r.r as number,
    loraAlpha: r.lora_alpha as number,
    useRslora: r.use_rslora === true,
    targetModules: typeof target === "string" || Array.isArray(target) ? (target as string[] | string) : null,
    modulesToSave: Array.isArray(r.modules_to_save) ? (r.modules_to_save as unknown[]).filter((x): x is string => typeof x === "string") : [],
    rankPattern: (r.rank_pattern as Record<string, number> | undefined) ?? {},
    alphaPattern: (r.alpha_pattern as Record<string, number> | undefined) ?? {},
    baseModel: typeof r.base_model_name_or_path === "string" && r.base_model_name_or_path.trim() ? r.base_model_name_or_path.trim() : null,
  };
}

/** PEFT's `get_pattern_key`: the first pattern P (in file order) with `^(.*\.)?(P)$` matching the module name. */
export function patternKeyFor(patterns: Record<string, number>, module: string): string | null {
  for (const p of Object.keys(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(.*\\.)?(${p})$`);
    } catch {
      throw new UserError(`adapter_config.json: pattern "${p}" is not a valid regular expression`);
    }
    if (re.test(module)) return p;
  }
  return null;
}

/** r, lora_alpha and s of one module, as PEFT's LoraLayer.update_layer computes them. */
export function moduleScale(config: LoraConfig, module: string): { rank: number; alpha: number; scale: number } {
  const rk = patternKeyFor(config.rankPattern, module);
  const ak = patternKeyFor(config.alphaPattern, module);
  const rank = rk === null ? config.r : config.rankPattern[rk];
  const alpha = ak === null ? config.loraAlpha : config.alphaPattern[ak];
  return { rank, alpha, scale: config.useRslora ? alpha / Math.sqrt(rank) : alpha / rank };
}

/**
 * adapter_config.json for the update scaled by `factor` (= 1 + α): `lora_alpha` and every
 * `alpha_pattern` value times the factor, nothing else changed. s is linear in α_m for plain
 * and rsLoRA alike, and a module matched by `rank_pattern` alone keeps using the (scaled)
 * `lora_alpha`, so every module's s is multiplied by the factor while A and B stay bit-identical.
 */
export function scaledAdapterConfig(config: LoraConfig, factor: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config.raw, lora_alpha: config.loraAlpha * factor };
  if (config.raw.alpha_pattern && typeof config.raw.alpha_pattern === "object") {
    out.alpha_pattern = Object.fromEntries(Object.entries(config.alphaPattern).map(([k, v]) => [k, v * factor]));
  }
  return out;
}

/** A folder or repo is a LoRA adapter when it has adapter_config.json and no full model weights. */
export async function isAdapter(access: WeightFileAccess): Promise<boolean> {
  if (!(await access.exists(ADAPTER_CONFIG_FILE))) return false;
  return !(await access.exists(SINGLE_FILE)) && !(await access.exists(INDEX_FILE));
}

/**
 * Maps the adapter's tensors to modules and full tensors. Throws a UserError listing every
 * key it cannot account for (DoRA magnitudes, embedding LoRA, a lone lora_A, a rank that
 * disagrees with the config, …).
 */
export function layoutAdapter(config: LoraConfig, tensors: ReadonlyMap<string, Pick<TensorInfo, "dtype" | "shape">>, source: string): { modules: LoraModule[]; full: FullTensor[] } {
  const problems: string[] = [];
  const pairs = new Map<string, { a?: string; b?: string }>();
  const full: FullTensor[] = [];
  for (const [key, info] of tensors) {
    if (!key.startsWith(PEFT_KEY_PREFIX)) {
      problems.push(`"${key}" does not start with "${PEFT_KEY_PREFIX}" (not a key PEFT's save_pretrained writes)`);
      continue;
    }
    if (!isFloatDtype(info.dtype)) {
      problems.push(`"${key}" is ${info.dtype}, not a float tensor (a quantised adapter?)`);
      continue;
    }
    const rest = key.slice(PEFT_KEY_PREFIX.length);
    const m = /^(.+)\.lora_([AB])\.weight$/.exec(rest);
    if (m) {
      const entry = pairs.get(m[1]) ?? {};
      entry[m[2] === "A" ? "a" : "b"] = key;
      pairs.set(m[1], entry);
    } else if (/\.lora_magnitude_vector(\.weight)?$/.test(rest)) {
      problems.push(`"${key}" is a DoRA magnitude vector: DoRA's update is not linear in B·A`);
    } else if (/\.lora_embedding_[AB]$/.test(rest)) {
      problems.push(`"${key}" is LoRA on an embedding layer: not supported (only Linear modules)`);
    } else if (/(^|\.)lora_/.test(rest)) {
      problems.push(`"${key}" is a LoRA tensor of a kind this tool does not know`);
    } else if (/\.base_layer\./.test(rest)) {
      problems.push(`"${key}" is a resized base layer under a LoRA module: the adapted module's θ0 is not the base model's`);
    } else {
      full.push({ key, baseTensor: rest });
    }
  }
  const modules: LoraModule[] = [];
  for (const [module, { a, b }] of pairs) {
    if (!a || !b) {
      problems.push(`module "${module}" has lora_${a ? "A" : "B"} but no lora_${a ? "B" : "A"}`);
      continue;
    }
    const sa = tensors.get(a)!.shape, sb = tensors.get(b)!.shape;
    const { rank, alpha, scale } = moduleScale(config, module);
    if (sa.length !== 2 || sb.length !== 2) {
      problems.push(`module "${module}": lora_A [${sa.join(", ")}] and lora_B [${sb.join(", ")}] must be matrices`);
      continue;
    }
    if (sa[0] !== rank || sb[1] !== rank) {
      problems.push(`module "${module}": lora_A [${sa.join(", ")}] and lora_B [${sb.join(", ")}] have rank ${sa[0]}/${sb[1]}, but the config gives r = ${rank}`);
      continue;
    }
    modules.push({ module, baseTensor: `${module}.weight`, a, b, rank, alpha, scale, outFeatures: sb[0], inFeatures: sa[1] });
  }
  if (modules.length === 0 && full.length === 0) problems.push("no LoRA tensors at all");
  if (problems.length) throw new UserError(`${source}: this adapter cannot be extrapolated:\n  - ${problems.slice(0, 20).join("\n  - ")}${problems.length > 20 ? `\n  - … (${problems.length} in all)` : ""}`, { exitCode: 3 });
  modules.sort((x, y) => (x.module < y.module ? -1 : x.module > y.module ? 1 : 0));
  return { modules, full };
}

/** Opens an adapter through any file access (local folder, Hub repo): config first, refusals before any tensor header. */
export async function openAdapterFrom(access: WeightFileAccess): Promise<LoraAdapter> {
  const text = await access.readText(ADAPTER_CONFIG_FILE);
  if (text === null) throw new UserError(`${access.name}: no ${ADAPTER_CONFIG_FILE} (not a PEFT adapter)`);
  const config = parseAdapterConfig(text, `${access.name}/${ADAPTER_CONFIG_FILE}`);
  if (!(await access.exists(ADAPTER_WEIGHTS_FILE))) {
    const bin = await access.exists("adapter_model.bin");
    throw new UserError(`${access.name}: no ${ADAPTER_WEIGHTS_FILE}${bin ? " (only adapter_model.bin, a pickle; save it with safe_serialization=True)" : ""}`);
  }
  const source = access.open(ADAPTER_WEIGHTS_FILE);
  let weights: ModelWeights;
  try {
    const file = await openSafetensors(source);
    weights = new ModelWeights(access.name, [file], new Map([...file.header.tensors].map(([n, info]) => [n, { file, info }])), null);
  } catch (err) {
    await source.close();
    throw err;
  }
  try {
    const { modules, full } = layoutAdapter(config, new Map([...weights.tensors].map(([n, l]) => [n, l.info])), `${access.name}/${ADAPTER_WEIGHTS_FILE}`);
    return { name: access.name, config, weights, modules, full };
  } catch (err) {
    await weights.close();
    throw err;
  }
}
