/**
 * Weight statistics on a deterministic sample: which tensors (several depths; attention,
 * MLP, norms, embeddings, head), which contiguous row-aligned block of each (a few rows of
 * a big matrix, not the whole tensor), and ‖θ1−θ0‖/‖θ0‖ and cosine on those blocks. Each
 * block is one range read per model, so the request count is the number of sampled tensors
 * (capped per shard), and the bytes are a fixed fraction of the checkpoint.
 *
 * Determinism: the choice depends only on the tensor names, shapes and the thresholds, so
 * the same pair always gets the same verdict and the same numbers.
 */
import type { ModelWeights } from "../../checkpoint/weights.js";
import { decodeFloatsInto } from "../../safetensors/codec.js";
import { DTYPE_BYTES, type FloatDtype } from "../../safetensors/dtype.js";
import { hashString } from "../../util/random.js";
import { isVocabTensor } from "./structure.js";
import type { Thresholds } from "./thresholds.js";
import type { Reason, TensorKind, TensorStat } from "./types.js";

export interface SamplePlanEntry {
  name: string;
  kind: TensorKind;
  layer: number | null;
  /** First element (row-aligned where the block spans whole rows) and element count. */
  offset: number;
  elements: number;
}

export function classifyTensor(name: string, shape: readonly number[]): { kind: TensorKind; layer: number | null } {
  const m = /(?:^|\.)(?:layers|h|blocks|layer|decoder\.layers)\.(\d+)\./.exec(name) ?? /\.(\d+)\./.exec(name);
  const layer = m ? Number(m[1]) : null;
  const n = name.toLowerCase();
  let kind: TensorKind;
  if (/(embed_tokens|wte|tok_embeddings|word_embeddings|embed_in)\.weight$/.test(n)) kind = "embedding";
  else if (/(^|\.)(lm_head|embed_out|score|output)\.weight$/.test(n)) kind = "head";
  else if (n.endsWith(".bias")) kind = "bias";
  else if (shape.length === 1 && /norm|ln_?\d*\.|ln_f|layernorm/.test(n)) kind = "norm";
  else if (/attn|attention|q_proj|k_proj|v_proj|o_proj|qkv|query|key|value/.test(n)) kind = "attention";
  else if (/mlp|ffn|feed_forward|gate_proj|up_proj|down_proj|fc\d|\.w[123]\./.test(n)) kind = "mlp";
  else if (shape.length === 1) kind = "norm";
  else kind = "other";
  return { kind, layer };
}

function isDecisive(kind: TensorKind, shape: readonly number[]): boolean {
  return shape.length >= 2 && kind !== "norm" && kind !== "bias";
}

/**
 * Picks tensors: attention and MLP matrices at the first, middle and last layer, then the
 * embedding and head, a norm in the middle and the final norm, then quarter depths — until
 * `maxSampledTensors`, with at most `maxSamplesPerShard` from any one shard of either model.
 */
export function planSamples(w0: ModelWeights, w1: ModelWeights, comparable: readonly string[], t: Thresholds): SamplePlanEntry[] {
  const info = new Map(comparable.map((name) => [name, { ...classifyTensor(name, w0.get(name).info.shape), shape: w0.get(name).info.shape }]));
  const byLayer = new Map<number, { attention: string[]; mlp: string[]; norm: string[] }>();
  const global: Record<"embedding" | "head" | "norm", string[]> = { embedding: [], head: [], norm: [] };
  for (const [name, { kind, layer, shape }] of info) {
    if (layer === null) {
      if (kind === "embedding" || kind === "head") global[kind].push(name);
      else if (kind === "norm") global.norm.push(name);
      continue;
    }
    const slot = byLayer.get(layer) ?? { attention: [], mlp: [], norm: [] };
    byLayer.set(layer, slot);
    if ((kind === "attention" || kind === "mlp") && isDecisive(kind, shape)) slot[kind].push(name);
    else if (kind === "norm") slot.norm.push(name);
  }
  for (const slot of byLayer.values()) for (const list of Object.values(slot)) list.sort();
  for (const list of Object.values(global)) list.sort();
  const layers = [...byLayer.keys()].sort((a, b) => a - b);
  const at = (fraction: number) => (layers.length ? layers[Math.round(fraction * (layers.length - 1))] : undefined);
  const pick = (list: string[] | undefined, i: number) => (list && list.length ? list[i % list.length] : undefined);

  // Interleaved so that the first few already cover every kind and depth.
  const first = at(0);
  const mid = at(0.5);
  const last = at(1);
  const slot = (d: number | undefined) => (d === undefined ? undefined : byLayer.get(d));
  const candidates: (string | undefined)[] = [
    pick(slot(first)?.attention, 0),
    pick(slot(last)?.mlp, 1),
    global.embedding[0],
    pick(slot(mid)?.norm, mid ?? 0),
    pick(slot(mid)?.attention, 2),
    pick(slot(first)?.mlp, 0),
    global.head[0],
    global.norm[0],
    pick(slot(last)?.attention, 3),
    pick(slot(mid)?.mlp, 2),
    pick(slot(at(0.25))?.attention, 1),
    pick(slot(at(0.75))?.mlp, 0),
    pick(slot(at(0.25))?.mlp, 1),
    pick(slot(at(0.75))?.attention, 2),
  ];
  // Anything else comparable fills remaining slots (models with unfamiliar naming).
  for (const name of [...info.keys()].sort()) if (isDecisive(info.get(name)!.kind, info.get(name)!.shape)) candidates.push(name);

  const chosen: string[] = [];
  const perShard = new Map<string, number>();
  for (const name of candidates) {
    if (name === undefined || chosen.includes(name)) continue;
    if (chosen.length >= t.maxSampledTensors) break;
    const shards = [`0:${w0.get(name).file.name}`, `1:${w1.get(name).file.name}`];
    if (shards.some((s) => (perShard.get(s) ?? 0) >= t.maxSamplesPerShard)) continue;
    for (const s of shards) perShard.set(s, (perShard.get(s) ?? 0) + 1);
    chosen.push(name);
  }

  // Bytes per model, shared out smallest tensor first so small tensors are read whole and
  // what they leave goes to the big ones.
  const budget = Math.min(t.maxSampleBytes, Math.max(t.minSampleBytes, Math.floor(t.sampleFraction * w0.totalBytes())));
  const sized = chosen.map((name) => {
    const s0 = w0.get(name).info;
    const s1 = w1.get(name).info;
    const rowLen = s0.shape.slice(1).reduce((a, b) => a * b, 1);
    const rows = s0.shape.length === 0 ? 1 : isVocabTensor(name) ? Math.min(s0.shape[0], s1.shape[0]) : s0.shape[0];
    const width = Math.max(DTYPE_BYTES[s0.dtype], DTYPE_BYTES[s1.dtype]);
    return { name, rowLen, rows, width, total: rows * rowLen };
  });
  sized.sort((a, b) => a.total * a.width - b.total * b.width || (a.name < b.name ? -1 : 1));
  let left = budget;
  const plan = new Map<string, SamplePlanEntry>();
  sized.forEach((s, i) => {
    const share = Math.floor(left / (sized.length - i));
    const want = Math.max(Math.min(s.total, 64), Math.floor(share / s.width));
    const h = hashString(s.name);
    let offset = 0;
    let elements = s.total;
    if (want < s.total) {
      if (want >= s.rowLen) {
        const rows = Math.floor(want / s.rowLen);
        offset = (h % (s.rows - rows + 1)) * s.rowLen;
        elements = rows * s.rowLen;
      } else {
        const row = h % s.rows;
        offset = row * s.rowLen + (Math.imul(h, 0x9e3779b1) >>> 0) % (s.rowLen - want + 1);
        elements = want;
      }
    }
    left -= elements * s.width;
    const { kind, layer } = info.get(s.name)!;
    plan.set(s.name, { name: s.name, kind, layer, offset, elements });
  });
  return chosen.map((name) => plan.get(name)!);
}

export async function readBlock(w: ModelWeights, entry: SamplePlanEntry): Promise<Float64Array> {
  const { file, info } = w.get(entry.name);
  const width = DTYPE_BYTES[info.dtype];
  const bytes = await file.readTensorRange(entry.name, entry.offset * width, (entry.offset + entry.elements) * width);
  const out = new Float64Array(entry.elements);
  decodeFloatsInto(info.dtype as FloatDtype, bytes, out);
  return out;
}

interface Sums {
  dot: number;
  n0: number;
  n1: number;
  dd: number;
  elements: number;
}

/** Reads the planned blocks from both models (a few at a time) and computes the statistics. */
export async function measureSamples(w0: ModelWeights, w1: ModelWeights, plan: readonly SamplePlanEntry[], concurrency = 4): Promise<{ stats: TensorStat[]; nonFinite: string[] }> {
  const stats: TensorStat[] = new Array(plan.length);
  const nonFinite: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const entry = plan[i];
      const [a, b] = await Promise.all([readBlock(w0, entry), readBlock(w1, entry)]);
      const s: Sums = { dot: 0, n0: 0, n1: 0, dd: 0, elements: a.length };
      let finite = true;
      let identical = 0;
      for (let k = 0; k < a.length; k++) {
        const x = a[k];
        const y = b[k];
        if (!Number.isFinite(x) || !Number.isFinite(y)) {
          finite = false;
          continue;
        }
        s.dot += x * y;
        s.n0 += x * x;
        s.n1 += y * y;
        s.dd += (y - x) * (y - x);
        // Same dtype decodes equal values from equal bits (±0 aside), so this counts bit-identical values.
        if (x === y) identical++;
      }
      if (!finite) nonFinite.push(entry.name);
      const i0 = w0.get(entry.name).info;
      const i1 = w1.get(entry.name).info;
      stats[i] = {
        name: entry.name,
        kind: entry.kind,
        layer: entry.layer,
        dtype: { sft: i0.dtype, aligned: i1.dtype },
        shape: { sft: i0.shape, aligned: i1.shape },
        offset: entry.offset,
        elements: entry.elements,
        relativeDistance: s.n0 > 0 ? Math.sqrt(s.dd / s.n0) : s.dd === 0 ? 0 : Infinity,
        cosine: s.n0 > 0 && s.n1 > 0 ? s.dot / Math.sqrt(s.n0 * s.n1) : s.n0 === s.n1 ? 1 : 0,
        rms: { sft: Math.sqrt(s.n0 / Math.max(1, a.length)), aligned: Math.sqrt(s.n1 / Math.max(1, b.length)) },
        identical,
        decisive: isDecisive(entry.kind, i0.shape) && s.n0 > 0 && finite,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
  return { stats, nonFinite };
}

export interface Overall {
  relativeDistance: number;
  cosine: number;
  tensors: number;
  elements: number;
}

/** Overall statistics: the sums of the decisive tensors' samples, as if one long vector. */
export function aggregate(stats: readonly TensorStat[]): Overall | null {
  let dot = 0, n0 = 0, n1 = 0, dd = 0, elements = 0, tensors = 0;
  for (const s of stats) {
    if (!s.decisive) continue;
    // Rebuild the sums from the per-tensor numbers (exact up to rounding).
    const a = s.rms.sft ** 2 * s.elements;
    const b = s.rms.aligned ** 2 * s.elements;
    n0 += a;
    n1 += b;
    dot += s.cosine * Math.sqrt(a * b);
    dd += s.relativeDistance ** 2 * a;
    elements += s.elements;
    tensors++;
  }
  if (tensors === 0 || n0 === 0) return null;
  return { relativeDistance: Math.sqrt(dd / n0), cosine: n1 > 0 ? dot / Math.sqrt(n0 * n1) : 0, tensors, elements };
}

const fmt = (x: number) => (x === 0 ? "0" : Math.abs(x) >= 0.01 && Math.abs(x) < 1000 ? x.toFixed(4).replace(/0+$/, "").replace(/\.$/, "") : x.toExponential(2));
export const formatNumber = fmt;
/** Cosines near 1 need more digits than other numbers: 0.99995, not 1. */
export function formatCosine(x: number): string {
  if (x === 1) return "1";
  if (x > 0.999999) return ">0.999999";
  return Math.abs(x) >= 0.9 ? x.toFixed(6).replace(/0+$/, "") : fmt(x);
}
const cos = formatCosine;

/** The weight reasons: identical, unrelated, far, barely moved, or close. */
export function judgeWeights(stats: readonly TensorStat[], overall: Overall | null, nonFinite: readonly string[], t: Thresholds): Reason[] {
  const reasons: Reason[] = [];
  if (nonFinite.length > 0) {
    reasons.push({ level: "refuse", code: "non-finite-weights", message: `Sampled weights contain NaN or infinite values in ${nonFinite.length} tensor${nonFinite.length > 1 ? "s" : ""} (${nonFinite.slice(0, 3).map((n) => `"${n}"`).join(", ")}); extrapolating them would spread the damage.`, numbers: { tensors: nonFinite.length } });
  }
  if (overall === null) {
    reasons.push({ level: "warn", code: "weights-not-compared", message: "No weight matrices could be compared (no shared float matrices were sampled); the verdict rests on the structure alone.", numbers: {} });
    return reasons;
  }
  const nums = { relativeDistance: overall.relativeDistance, cosine: overall.cosine, tensors: overall.tensors, elements: overall.elements };
  const where = `on ${overall.tensors} sampled weight matrices (${overall.elements.toLocaleString("en-US")} values)`;
  const decisive = stats.filter((s) => s.decisive);
  const unrelated = decisive.filter((s) => s.cosine < t.refuseCosine || s.relativeDistance > t.refuseRelativeDistance);
  const far = decisive.filter((s) => !unrelated.includes(s) && (s.cosine < t.warnCosine || s.relativeDistance > t.warnRelativeDistance));
  const describe = (s: TensorStat) => `"${s.name}" (relative distance ${fmt(s.relativeDistance)}, cosine ${cos(s.cosine)})`;

  if (overall.relativeDistance <= t.identicalRelativeDistance) {
    reasons.push({ level: "refuse", code: "weights-identical", message: `θ1's sampled weights are identical to θ0's ${where}: there is no alignment update to extrapolate.`, numbers: nums });
    return reasons;
  }
  if (overall.cosine < t.refuseCosine || overall.relativeDistance > t.refuseRelativeDistance) {
    reasons.push({
      level: "refuse",
      code: "weights-unrelated",
      message: `The weights look independently trained, not fine-tuned from θ0: ${where}, relative distance ‖θ1−θ0‖/‖θ0‖ is ${fmt(overall.relativeDistance)} (refuse above ${t.refuseRelativeDistance}) and cosine similarity ${cos(overall.cosine)} (refuse below ${t.refuseCosine}). Fine-tuning from a checkpoint gives about 0.001–0.05 and above 0.99; unrelated models give about 1.4 and 0. The paper found extrapolating such pairs collapses the model.`,
      numbers: nums,
    });
  } else if (unrelated.length > 0) {
    reasons.push({
      level: "refuse",
      code: "tensors-unrelated",
      message: `Overall the weights are close (relative distance ${fmt(overall.relativeDistance)}, cosine ${cos(overall.cosine)}), but ${unrelated.length} sampled tensor${unrelated.length > 1 ? "s look" : " looks"} unrelated to θ0: ${unrelated.slice(0, 3).map(describe).join("; ")}. Extrapolating a re-initialised part would break it.`,
      numbers: { ...nums, unrelatedTensors: unrelated.length },
    });
  } else if (overall.cosine < t.warnCosine || overall.relativeDistance > t.warnRelativeDistance || far.length > 0) {
    reasons.push({
      level: "warn",
      code: "weights-far",
      message: `θ1 moved further from θ0 than preference training usually does: ${where}, relative distance ${fmt(overall.relativeDistance)} (warn above ${t.warnRelativeDistance}), cosine ${cos(overall.cosine)} (warn below ${t.warnCosine})${far.length ? `; furthest: ${far.slice(0, 3).map(describe).join("; ")}` : ""}. It may be a long fine-tune or from a different checkpoint; expect a small best α.`,
      numbers: { ...nums, farTensors: far.length },
    });
  } else if (overall.relativeDistance < t.tinyRelativeDistance) {
    reasons.push({
      level: "warn",
      code: "weights-barely-moved",
      message: `θ1 barely differs from θ0: ${where}, relative distance ${fmt(overall.relativeDistance)} (below ${t.tinyRelativeDistance}). It may be under-trained; the paper needed α of 2.5–25 for such models, which also amplifies length bias.`,
      numbers: nums,
    });
  } else {
    reasons.push({
      level: "info",
      code: "weights-close",
      message: `θ1 is θ0 plus a small update ${where}: relative distance ${fmt(overall.relativeDistance)}, cosine ${cos(overall.cosine)} — what fine-tuning from θ0 looks like (a sibling fine-tuned separately from θ0's own base looks the same by these two numbers: the child-or-sibling check below decides).`,
      numbers: nums,
    });
  }
  return reasons;
}
