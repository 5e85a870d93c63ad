/**
 * The check for a LoRA adapter θ1 on θ0. The adapter is read first: a config whose update
 * is not s·B·A (DoRA, …) is refused before any tensor is touched. Then: does the adapter
 * fit θ0 (every module's base tensor exists with lora_B·lora_A's shape; full tensors line
 * up, vocabulary growth included — src/expo/adapter/plan.ts), does it name θ0 as its base,
 * is its tokenizer θ0's, and how big is s·B·A next to θ0's weights on a few sampled modules
 * (whole A and B, which are small, and one block of θ0's rows by range read). The sampled
 * blocks become TensorStats with θ1 = θ0 + s·B·A, so the same weight judgement as for full
 * models applies (identical, barely moved, too far).
 */
import { adapterConfigProblems, openAdapterFrom, ADAPTER_CONFIG_FILE, type LoraAdapter } from "../../checkpoint/adapter.js";
import { loraFactors, loraRows } from "../../checkpoint/lora-update.js";
import type { ModelWeights } from "../../checkpoint/weights.js";
import { decodeFloats } from "../../safetensors/codec.js";
import type { FloatDtype } from "../../safetensors/dtype.js";
import { DTYPE_BYTES } from "../../safetensors/dtype.js";
import { UserError } from "../../util/errors.js";
import { planAdapter } from "../adapter/plan.js";
import { sameRepoId, type CardInfo } from "./card.js";
import { aggregate, classifyTensor, judgeWeights } from "./sample.js";
import type { ModelSource } from "./source.js";
import type { Thresholds } from "./thresholds.js";
import { compareTokenizers } from "./tokenizer.js";
import type { Reason, TensorStat } from "./types.js";

export interface AdapterCheck {
  r: number | null;
  loraAlpha: number | null;
  useRslora: boolean;
  /** What the adapter names as its base: `base_model_name_or_path`, else the card's base_model. */
  baseModel: string | null;
  modules: number;
  fullTensors: number;
  /** s per module. */
  scale: { min: number; max: number } | null;
  targetModules: string[] | string | null;
}

/** θ0's id named by an adapter: adapter_config.json's `base_model_name_or_path` (when it looks like a Hub id), else the card's single base_model. */
export function adapterBaseModel(configText: string | null, card: CardInfo): string | null {
  try {
    const raw = configText ? (JSON.parse(configText) as { base_model_name_or_path?: unknown }) : null;
    const named = typeof raw?.base_model_name_or_path === "string" ? raw.base_model_name_or_path.trim() : "";
    if (/^[\w.-]+\/[\w.-]+$/.test(named)) return named;
  } catch {
    // an unreadable config is reported by the check itself
  }
  return card.baseModels.length === 1 ? card.baseModels[0] : null;
}

const SAMPLED_MODULES = 8;
const SAMPLE_ELEMENTS = 4096;

/** ‖·‖ statistics of θ0's rows block and θ0 + s·B·A over the same rows. */
async function sampleModule(theta0: ModelWeights, adapter: LoraAdapter, m: LoraAdapter["modules"][number], dtype0: FloatDtype): Promise<TensorStat> {
  const { a, b } = await loraFactors(adapter.weights, m);
  const rows = Math.max(1, Math.min(m.outFeatures, Math.floor(SAMPLE_ELEMENTS / m.inFeatures)));
  const row0 = Math.floor((m.outFeatures - rows) / 2);
  const rowBytes = m.inFeatures * DTYPE_BYTES[dtype0];
  const w = decodeFloats(dtype0, await theta0.get(m.baseTensor).file.readTensorRange(m.baseTensor, row0 * rowBytes, (row0 + rows) * rowBytes));
  const d = new Float64Array(rows * m.inFeatures);
  loraRows(a, b, m.rank, m.inFeatures, row0, row0 + rows, d);
  let s00 = 0, s11 = 0, s01 = 0, sdd = 0;
  for (let i = 0; i < w.length; i++) {
    const u = m.scale * d[i];
    const x1 = w[i] + u;
    s00 += w[i] * w[i];
    s11 += x1 * x1;
    s01 += w[i] * x1;
    sdd += u * u;
  }
  const { kind, layer } = classifyTensor(m.baseTensor, [m.outFeatures, m.inFeatures]);
  return {
    name: m.baseTensor,
    kind,
    layer,
    dtype: { sft: dtype0, aligned: `${adapter.weights.get(m.b).info.dtype} (LoRA r=${m.rank})` },
    shape: { sft: [m.outFeatures, m.inFeatures], aligned: [m.outFeatures, m.inFeatures] },
    offset: row0 * m.inFeatures,
    elements: w.length,
    relativeDistance: Math.sqrt(sdd / s00),
    cosine: s01 / Math.sqrt(s00 * s11),
    rms: { sft: Math.sqrt(s00 / w.length), aligned: Math.sqrt(s11 / w.length) },
    decisive: true,
  };
}

export interface AdapterSideInputs {
  s1: ModelSource;
  theta0Id: string | null;
  theta0Weights: ModelWeights | null;
  theta0Tokenizer: string | null;
  card1: CardInfo;
  thresholds: Thresholds;
}

/** Reasons, sampled statistics and the adapter summary; `adapter` is the opened adapter (caller closes its weights). */
export async function checkAdapterOnBase(p: AdapterSideInputs): Promise<{ reasons: Reason[]; tensors: TensorStat[]; adapter: LoraAdapter | null; summary: AdapterCheck }> {
  const reasons: Reason[] = [];
  const access = p.s1.access;
  const configText = await access.readText(ADAPTER_CONFIG_FILE);
  let raw: Record<string, unknown> | null = null;
  try {
    const parsed = JSON.parse(configText ?? "null") as unknown;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) raw = parsed as Record<string, unknown>;
  } catch {
    raw = null;
  }
  const summary: AdapterCheck = {
    r: typeof raw?.r === "number" ? raw.r : null,
    loraAlpha: typeof raw?.lora_alpha === "number" ? raw.lora_alpha : null,
    useRslora: raw?.use_rslora === true,
    baseModel: adapterBaseModel(configText, p.card1),
    modules: 0,
    fullTensors: 0,
    scale: null,
    targetModules: (raw?.target_modules as string[] | string | undefined) ?? null,
  };
  if (!raw) {
    reasons.push({ level: "refuse", code: "adapter-unsupported", message: `θ1's ${ADAPTER_CONFIG_FILE} is not a JSON object, so the adapter cannot be read.`, numbers: {} });
    return { reasons, tensors: [], adapter: null, summary };
  }
  const problems = adapterConfigProblems(raw);
  if (problems.length) {
    for (const pr of problems) reasons.push({ level: "refuse", code: "adapter-unsupported", message: `θ1 is a PEFT adapter whose update ExPO cannot scale: ${pr}.`, numbers: {} });
    return { reasons, tensors: [], adapter: null, summary };
  }
  let adapter: LoraAdapter;
  p.s1.counter.phase = "headers";
  try {
    adapter = await openAdapterFrom(access);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    reasons.push({ level: "refuse", code: "adapter-unsupported", message: err.message, numbers: {} });
    return { reasons, tensors: [], adapter: null, summary };
  }
  const scales = adapter.modules.map((m) => m.scale);
  Object.assign(summary, { modules: adapter.modules.length, fullTensors: adapter.full.length, scale: scales.length ? { min: Math.min(...scales), max: Math.max(...scales) } : null });
  reasons.push({
    level: "info",
    code: "adapter-lora",
    message: `θ1 is a LoRA adapter: r = ${adapter.config.r}, lora_alpha = ${adapter.config.loraAlpha}${adapter.config.useRslora ? " (rsLoRA: s = α/√r)" : ""}, s = ${summary.scale ? (summary.scale.min === summary.scale.max ? summary.scale.min : `${summary.scale.min}–${summary.scale.max}`) : "—"} on ${adapter.modules.length} module(s)${adapter.full.length ? `, ${adapter.full.length} full tensor(s) (modules_to_save)` : ""}. ExPO scales its update by 1 + α, exactly.`,
    numbers: { r: adapter.config.r, loraAlpha: adapter.config.loraAlpha, modules: adapter.modules.length, fullTensors: adapter.full.length },
  });

  // Named base vs θ0. The shapes decide; a different name alone warns (QLoRA recipes often name a quantised mirror of θ0).
  if (summary.baseModel && p.theta0Id) {
    if (sameRepoId(summary.baseModel, p.theta0Id)) reasons.push({ level: "info", code: "adapter-base-confirmed", message: `The adapter names ${p.theta0Id} as its base model.`, numbers: {} });
    else reasons.push({ level: "warn", code: "adapter-base-named-other", message: `The adapter names ${summary.baseModel} as its base model, not ${p.theta0Id}. That is fine for a quantised or mirrored copy of θ0 (QLoRA recipes often name one); otherwise θ1 was trained on another model.`, numbers: {} });
  }

  if (!p.theta0Weights) return { reasons, tensors: [], adapter, summary };
  const headers0 = new Map([...p.theta0Weights.tensors].map(([n, l]) => [n, { dtype: l.info.dtype, shape: l.info.shape }]));
  try {
    const plan = planAdapter(headers0, adapter, { alpha: 0 });
    for (const note of plan.notes) reasons.push({ level: "info", code: "adapter-note", message: note, numbers: {} });
    reasons.push({ level: "info", code: "adapter-fits-base", message: `Every adapted module exists in θ0 with lora_B·lora_A's shape (${adapter.modules.length} module(s)).`, numbers: {} });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    reasons.push({ level: "refuse", code: "adapter-wrong-base", message: err.message.replace(/^the adapter \S+ /, "The adapter "), numbers: {} });
    return { reasons, tensors: [], adapter, summary };
  }
  // An adapter that ships a tokenizer must keep θ0's ids; one without uses θ0's.
  const tokenizer1 = await access.readText("tokenizer.json");
  if (tokenizer1 !== null) reasons.push(...compareTokenizers(p.theta0Tokenizer, tokenizer1));
  else reasons.push({ level: "info", code: "tokenizer-from-base", message: "The adapter ships no tokenizer.json: it is used with θ0's tokenizer.", numbers: {} });

  // Sampled modules, spread evenly over the adapter's modules.
  const n = adapter.modules.length;
  const picks = [...new Set(Array.from({ length: Math.min(SAMPLED_MODULES, n) }, (_, i) => Math.floor((i * n) / Math.min(SAMPLED_MODULES, n))))].map((i) => adapter.modules[i]);
  p.s1.counter.phase = "samples";
  const tensors: TensorStat[] = [];
  for (const m of picks) tensors.push(await sampleModule(p.theta0Weights, adapter, m, p.theta0Weights.get(m.baseTensor).info.dtype as FloatDtype));
  const overall = aggregate(tensors);
  const nonFinite = tensors.filter((t) => !Number.isFinite(t.relativeDistance) || !Number.isFinite(t.cosine)).map((t) => t.name);
  reasons.push(...judgeWeights(tensors, overall, nonFinite, p.thresholds));
  return { reasons, tensors, adapter, summary };
}
