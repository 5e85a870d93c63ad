/**
 * Structure: the two models must be the same network. config.json fields that fix the
 * shapes and semantics, then the tensor names, shapes and dtypes from the safetensors
 * headers. Vocabulary growth is the one allowed difference (θ1 may append tokens: its
 * embedding and head get extra rows; the extrapolation copies those rows from θ1).
 */
import type { ModelConfig } from "../../checkpoint/config.js";
import type { ModelWeights } from "../../checkpoint/weights.js";
import { isFloatDtype } from "../../safetensors/dtype.js";
import type { Reason } from "./types.js";

const SHAPE_FIELDS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "head_dim"] as const;

export function compareConfigs(c0: ModelConfig, c1: ModelConfig): Reason[] {
  const reasons: Reason[] = [];
  const a0 = JSON.stringify(c0.architectures ?? null);
  const a1 = JSON.stringify(c1.architectures ?? null);
  if (c0.model_type !== c1.model_type || a0 !== a1) {
    reasons.push({
      level: "refuse",
      code: "architecture-mismatch",
      message: `The models are different architectures: θ0 is ${describeArch(c0)}, θ1 is ${describeArch(c1)}. Weights of different architectures cannot be extrapolated.`,
      numbers: { sft: describeArch(c0), aligned: describeArch(c1) },
    });
  }
  const diffs: string[] = [];
  const numbers: Record<string, number | null> = {};
  for (const key of SHAPE_FIELDS) {
    const v0 = key === "num_key_value_heads" ? (c0[key] ?? c0.num_attention_heads) : key === "head_dim" ? (c0[key] ?? c0.hidden_size / c0.num_attention_heads) : c0[key];
    const v1 = key === "num_key_value_heads" ? (c1[key] ?? c1.num_attention_heads) : key === "head_dim" ? (c1[key] ?? c1.hidden_size / c1.num_attention_heads) : c1[key];
    if (v0 !== v1) {
      diffs.push(`${key} ${v0} vs ${v1}`);
      numbers[`${key}.sft`] = (v0 as number) ?? null;
      numbers[`${key}.aligned`] = (v1 as number) ?? null;
    }
  }
  if (diffs.length > 0) {
    reasons.push({ level: "refuse", code: "config-shape-mismatch", message: `The models have different shapes (θ0 vs θ1): ${diffs.join(", ")}. θ1 cannot have been fine-tuned from θ0.`, numbers });
  }
  if (c1.vocab_size < c0.vocab_size) {
    reasons.push({
      level: "refuse",
      code: "vocab-shrunk",
      message: `θ1's vocab_size (${c1.vocab_size}) is smaller than θ0's (${c0.vocab_size}); fine-tuning can append tokens but not remove them.`,
      numbers: { sft: c0.vocab_size, aligned: c1.vocab_size },
    });
  } else if (c1.vocab_size > c0.vocab_size) {
    reasons.push({
      level: "info",
      code: "vocab-grown",
      message: `θ1's vocab_size is ${c1.vocab_size}, θ0's ${c0.vocab_size}: ${c1.vocab_size - c0.vocab_size} rows appended; their embeddings are taken from θ1 unchanged.`,
      numbers: { sft: c0.vocab_size, aligned: c1.vocab_size },
    });
  }
  if ((c0.tie_word_embeddings ?? false) !== (c1.tie_word_embeddings ?? false)) {
    reasons.push({ level: "refuse", code: "tied-embeddings-mismatch", message: `θ0 ${c0.tie_word_embeddings ? "ties" : "does not tie"} its input and output embeddings but θ1 ${c1.tie_word_embeddings ? "does" : "does not"}.`, numbers: {} });
  }
  const soft: string[] = [];
  if (c0.rope_theta !== c1.rope_theta) soft.push(`rope_theta ${c0.rope_theta} vs ${c1.rope_theta}`);
  if (JSON.stringify(c0.rope_scaling ?? null) !== JSON.stringify(c1.rope_scaling ?? null)) soft.push(`rope_scaling ${JSON.stringify(c0.rope_scaling ?? null)} vs ${JSON.stringify(c1.rope_scaling ?? null)}`);
  if ((c0.sliding_window ?? null) !== (c1.sliding_window ?? null)) soft.push(`sliding_window ${c0.sliding_window ?? null} vs ${c1.sliding_window ?? null}`);
  if (soft.length > 0) {
    reasons.push({ level: "warn", code: "position-config-changed", message: `Position settings differ (θ0 vs θ1): ${soft.join(", ")}. θ1 may have been trained for a longer context; the output uses θ1's settings.`, numbers: {} });
  }
  for (const [label, c] of [["θ0", c0], ["θ1", c1]] as const) {
    if (c.quantization_config) {
      reasons.push({ level: "refuse", code: "quantized", message: `${label} is a quantized checkpoint (config.json has quantization_config); extrapolation needs the full-precision weights.`, numbers: {} });
    }
  }
  if (reasons.every((r) => r.level === "info")) {
    reasons.push({ level: "info", code: "config-match", message: `Same architecture (${describeArch(c0)}): hidden ${c0.hidden_size}, ${c0.num_hidden_layers} layers, ${c0.num_attention_heads} heads, ${c0.num_key_value_heads ?? c0.num_attention_heads} KV heads, intermediate ${c0.intermediate_size}.`, numbers: {} });
  }
  return reasons;
}

function describeArch(c: ModelConfig): string {
  return `${c.architectures?.join("/") ?? "?"} (model_type ${c.model_type ?? "?"})`;
}

/** Tensors whose leading dimension may grow with the vocabulary. */
export function isVocabTensor(name: string): boolean {
  return /(embed_tokens|wte|tok_embeddings|word_embeddings|lm_head|embed_out|output)\.weight$/.test(name);
}

/** Buffers some old checkpoints carry; not weights. */
function isIgnorableBuffer(name: string): boolean {
  return /rotary_emb\.inv_freq$|\.attn\.(masked_)?bias$|position_ids$/.test(name);
}

export interface TensorComparison {
  reasons: Reason[];
  /** Names present in both with compatible shapes (the sampling candidates). */
  comparable: string[];
  /** Shared non-float tensors with the same dtype and shape (judged by `judgeNonFloat`, which reads them). */
  nonFloat: string[];
}

/** Largest non-float tensor `judgeNonFloat` reads whole; bigger ones are weights (quantized), not buffers. */
export const MAX_NON_FLOAT_BYTES = 1 << 20;

/**
 * Integer tensors: `extrapolate` copies θ1's unchanged, which is right when θ0 and θ1 hold
 * the same values (a position-id or mask buffer). Only ones that differ — quantized weights,
 * where θ1 − θ0 is meaningless as integers — or that are too big to be buffers refuse the pair.
 */
export async function judgeNonFloat(w0: ModelWeights, w1: ModelWeights, names: readonly string[]): Promise<Reason[]> {
  if (names.length === 0) return [];
  const differ: string[] = [];
  const big: string[] = [];
  for (const name of names) {
    const size = w0.get(name).info.dataOffsets[1] - w0.get(name).info.dataOffsets[0];
    if (size > MAX_NON_FLOAT_BYTES) {
      big.push(`"${name}" (${w0.get(name).info.dtype}, ${size.toLocaleString("en-US")} bytes)`);
      continue;
    }
    const [a, b] = await Promise.all([w0.get(name).file.readTensor(name), w1.get(name).file.readTensor(name)]);
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) differ.push(`"${name}" (${w0.get(name).info.dtype})`);
  }
  const reasons: Reason[] = [];
  const bad = [...differ, ...big];
  if (bad.length > 0) {
    reasons.push({
      level: "refuse",
      code: "non-float-weights",
      message: `${bad.length} shared tensor${bad.length > 1 ? "s are" : " is"} not floating point and ${differ.length > 0 ? "differ between θ0 and θ1" : "too large to be a buffer"} (${bad.slice(0, 5).join(", ")}): quantized or integer weights cannot be extrapolated.`,
      numbers: { tensors: bad.length, differ: differ.length, large: big.length },
    });
  }
  const same = names.length - bad.length;
  if (same > 0) {
    reasons.push({ level: "info", code: "integer-buffers-identical", message: `${same} integer tensor${same > 1 ? "s are" : " is"} identical in θ0 and θ1; θ1's ${same > 1 ? "are" : "is"} copied unchanged.`, numbers: { tensors: same } });
  }
  return reasons;
}

export function compareTensors(w0: ModelWeights, w1: ModelWeights): TensorComparison {
  const reasons: Reason[] = [];
  const names0 = new Set(w0.names().filter((n) => !isIgnorableBuffer(n)));
  const names1 = new Set(w1.names().filter((n) => !isIgnorableBuffer(n)));
  const onlyIn0 = [...names0].filter((n) => !names1.has(n)).sort();
  const onlyIn1 = [...names1].filter((n) => !names0.has(n)).sort();
  const list = (xs: string[]) => xs.slice(0, 5).map((x) => `"${x}"`).join(", ") + (xs.length > 5 ? ` and ${xs.length - 5} more` : "");
  if (onlyIn0.length > 0 || onlyIn1.length > 0) {
    const parts: string[] = [];
    if (onlyIn0.length > 0) parts.push(`${onlyIn0.length} only in θ0 (${list(onlyIn0)})`);
    if (onlyIn1.length > 0) parts.push(`${onlyIn1.length} only in θ1 (${list(onlyIn1)})`);
    reasons.push({ level: "refuse", code: "tensor-names-differ", message: `The checkpoints hold different tensors: ${parts.join("; ")}.`, numbers: { onlyInSft: onlyIn0.length, onlyInAligned: onlyIn1.length } });
  }
  const comparable: string[] = [];
  const shapeDiffs: string[] = [];
  const dtypeDiffs: string[] = [];
  const nonFloat: string[] = [];
  const mixedKind: string[] = [];
  let grown = 0;
  for (const name of names0) {
    if (!names1.has(name)) continue;
    const i0 = w0.get(name).info;
    const i1 = w1.get(name).info;
    const s0 = i0.shape;
    const s1 = i1.shape;
    const same = s0.length === s1.length && s0.every((d, i) => d === s1[i]);
    if (!same) {
      const appended = isVocabTensor(name) && s0.length === s1.length && s0.length >= 1 && s1[0] > s0[0] && s0.slice(1).every((d, i) => d === s1[i + 1]);
      if (appended) grown++;
      else {
        shapeDiffs.push(`"${name}" [${s0.join(", ")}] vs [${s1.join(", ")}]`);
        continue;
      }
    }
    if (i0.dtype !== i1.dtype) dtypeDiffs.push(`"${name}" ${i0.dtype} vs ${i1.dtype}`);
    if (!isFloatDtype(i0.dtype) || !isFloatDtype(i1.dtype)) {
      if (i0.dtype === i1.dtype && same) nonFloat.push(name);
      else mixedKind.push(`"${name}" (${i0.dtype}/${i1.dtype})`);
      continue;
    }
    comparable.push(name);
  }
  if (shapeDiffs.length > 0) {
    reasons.push({
      level: "refuse",
      code: "tensor-shapes-differ",
      message: `${shapeDiffs.length} tensor${shapeDiffs.length > 1 ? "s have" : " has"} different shapes (θ0 vs θ1): ${shapeDiffs.slice(0, 5).join("; ")}${shapeDiffs.length > 5 ? `; and ${shapeDiffs.length - 5} more` : ""}.`,
      numbers: { tensors: shapeDiffs.length },
    });
  }
  if (mixedKind.length > 0) {
    reasons.push({ level: "refuse", code: "non-float-weights", message: `${mixedKind.length} shared tensor${mixedKind.length > 1 ? "s are" : " is"} not floating point in one model or both, with different dtypes or shapes (${mixedKind.slice(0, 5).join(", ")}): quantized or integer weights cannot be extrapolated.`, numbers: { tensors: mixedKind.length } });
  }
  if (dtypeDiffs.length > 0) {
    reasons.push({ level: "warn", code: "dtype-differs", message: `${dtypeDiffs.length} tensor${dtypeDiffs.length > 1 ? "s are" : " is"} stored in different precisions (${dtypeDiffs.slice(0, 3).join("; ")}${dtypeDiffs.length > 3 ? "; …" : ""}); the difference θ1 − θ0 then includes rounding noise.`, numbers: { tensors: dtypeDiffs.length } });
  }
  if (grown > 0) {
    reasons.push({ level: "info", code: "vocab-rows-appended", message: `${grown} embedding/head tensor${grown > 1 ? "s have" : " has"} extra rows in θ1 (appended tokens); only θ0's rows are compared.`, numbers: { tensors: grown } });
  }
  if (reasons.every((r) => r.level === "info")) {
    reasons.push({ level: "info", code: "tensors-match", message: `All ${names0.size} tensors have the same names, shapes and dtypes${grown > 0 ? " (vocabulary rows aside)" : ""}.`, numbers: { tensors: names0.size } });
  }
  return { reasons, comparable, nonFloat };
}
