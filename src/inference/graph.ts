/**
 * Builds the ONNX graph of a Llama / Mistral / Qwen2 / Qwen3 checkpoint (causal LM or
 * sequence-classification head) from config.json and the safetensors headers.
 *
 * The weights are graph *inputs*, not initializers: every tensor the graph needs is a float32
 * input in its stored layout (Linear weights [out, in], used by Gemm with transB), listed in
 * `weights` (WeightSlot). The
 * runner fills one Float32Array per slot from the safetensors files (weight-store.ts) and feeds
 * the same arrays on every run; onnxruntime-node wraps a CPU input's buffer without copying
 * it. So each weight exists exactly once, as float32, in memory the caller owns — no bf16
 * copy, no constant-folded fp32 duplicate, no prepacked copy — and it can be rewritten in
 * place between runs (θ1 + α(θ1 − θ0) for another α) with no session rebuild.
 *
 * Inputs:  input_ids [batch, seq] int64, attention_mask [batch, total] int64 (total = past + seq),
 *          position_ids [batch, seq] int64,
 *          causal LM only: logits_to_keep [1] int64 (logits for the last k positions),
 *          past_key_values.{i}.key/value [batch, kv_heads, past, head_dim] float32 (with cache).
 *          and one float32 input per weight slot.
 * Outputs: causal: logits [batch, keep, vocab] float32, present.{i}.key/value [batch, kv_heads, total, head_dim];
 *          reward: scores [batch, seq, num_labels] float32 (the pooling at the last non-padding
 *          token is done by the caller, as transformers does it after the head).
 *
 * Attention is written with standard ONNX ops (see docs/inference.md for why not
 * com.microsoft.GroupQueryAttention). Key k is visible from query q (both indices into the
 * concatenated cache) when k ≤ q, attention_mask[b, k] = 1 and, in a sliding-window layer,
 * q − k < window — transformers v4.57's masking_utils semantics.
 */
import type { ModelConfig } from "../checkpoint/config.js";
import type { ModelWeights } from "../checkpoint/weights.js";
import { UserError } from "../util/errors.js";
import { resolveArch, type ArchSpec } from "./arch.js";
import { DataType, GraphBuilder } from "./onnx-builder.js";

/** "standard": attention from standard ONNX ops; "gqa": com.microsoft.GroupQueryAttention (batch 1, no padding; for measurements). */
export type AttentionImpl = "standard" | "gqa";

export interface BuildOptions {
  /** Causal LM: take and return the KV cache (default true). Reward models never use one. */
  cache?: boolean;
  attention?: AttentionImpl;
}

export interface BuiltGraph {
  spec: ArchSpec;
  /** The serialized ModelProto (small: no weights inside). */
  model: Uint8Array;
  /** The weight inputs, in the order they were declared. */
  weights: WeightSlot[];
  cache: boolean;
  inputNames: string[];
  outputNames: string[];
}

const FLOAT32_LOWEST = -3.4028234663852886e38;
const FLOAT_DTYPES = new Set(["F32", "BF16", "F16", "F64"]);

/** One float32 weight input: checkpoint tensor `tensor` in its stored layout. */
export interface WeightSlot {
  input: string;
  tensor: string;
  dims: number[];
}

export function buildGraph(config: ModelConfig, weights: ModelWeights, options: BuildOptions = {}): BuiltGraph {
  const spec = resolveArch(config);
  const cache = spec.head === "causal" && (options.cache ?? true);
  const g = new GraphBuilder();
  const slots: WeightSlot[] = [];
  const declared = new Set<string>();

  /** Checkpoint tensor `name` as a float32 graph input (declared once), its shape checked against config.json. */
  const weight = (name: string, expectShape: number[]): string => {
    if (declared.has(name)) return name;
    const { info } = weights.get(name);
    if (!FLOAT_DTYPES.has(info.dtype)) throw new UserError(`${weights.name}: tensor "${name}" is ${info.dtype}; only F32, BF16, F16 and F64 weights are supported`);
    if (expectShape.length !== info.shape.length || expectShape.some((d, i) => d !== info.shape[i])) {
      throw new UserError(`${weights.name}: tensor "${name}" has shape [${info.shape.join(", ")}], config.json implies [${expectShape.join(", ")}]`);
    }
    g.input(name, DataType.FLOAT, expectShape);
    slots.push({ input: name, tensor: name, dims: expectShape });
    declared.add(name);
    return name;
  };
  /**
   * y = x Wᵀ (+ b) for a transformers Linear weight W [out, in], as stored: Gemm with transB on
   * the tokens flattened to rows. (MLAS multiplies by a transposed B directly — a dot-product
   * kernel at one row, packing per call otherwise — measured as fast as MatMul on a
   * pre-transposed copy at batch 1 and faster at batch 8, and the weights need no transposing.)
   */
  const linear = (x: string, prefix: string, outDim: number, inDim: number, bias: boolean): string => {
    const rows = g.op("Reshape", [x, g.int64([-1, inDim])]);
    const y = g.op("Gemm", [rows, weight(`${prefix}.weight`, [outDim, inDim]), ...(bias ? [weight(`${prefix}.bias`, [outDim])] : [])], { transB: 1 });
    const shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [x]), g.int64([0]), g.int64([-1])]), g.int64([outDim])], { axis: 0 });
    return g.op("Reshape", [y, shape], {}, { name: `${prefix}.out` });
  };
  const rmsNormOver = (x: string, name: string, size: number): string => {
    const sq = g.op("Mul", [x, x]);
    const variance = g.op("ReduceMean", [sq], { axes: [-1], keepdims: 1 });
    const std = g.op("Sqrt", [g.op("Add", [variance, g.float32(spec.eps)])]);
    return g.op("Mul", [g.op("Div", [x, std]), weight(name, [size])], {}, { name: `${name}.out` });
  };
  const rmsNorm = (x: string, name: string): string => rmsNormOver(x, name, spec.hidden);

  // ---- inputs
  const inputIds = g.input("input_ids", DataType.INT64, ["batch", "seq"]);
  const attentionMask = g.input("attention_mask", DataType.INT64, ["batch", "total"]);
  const positionIds = g.input("position_ids", DataType.INT64, ["batch", "seq"]);
  const keep = spec.head === "causal" ? g.input("logits_to_keep", DataType.INT64, [1]) : null;
  const pastNames: [string, string][] = [];
  if (cache) {
    for (let i = 0; i < spec.layers; i++) {
      const k = g.input(`past_key_values.${i}.key`, DataType.FLOAT, ["batch", spec.kvHeads, "past", spec.headDim]);
      const v = g.input(`past_key_values.${i}.value`, DataType.FLOAT, ["batch", spec.kvHeads, "past", spec.headDim]);
      pastNames.push([k, v]);
    }
  }

  // ---- masks, shared by all layers: [batch, 1, 1, seq, total] booleans
  const scalar = (v: number) => g.int64(v, true);
  const seqLen = g.op("Gather", [g.op("Shape", [inputIds]), scalar(1)], { axis: 0 });
  const totalLen = g.op("Gather", [g.op("Shape", [attentionMask]), scalar(1)], { axis: 0 });
  const pastLen = g.op("Sub", [totalLen, seqLen]);
  const qIndex = g.op("Unsqueeze", [g.op("Range", [pastLen, totalLen, scalar(1)]), g.int64([1])]); // [seq, 1]
  const kIndex = g.op("Unsqueeze", [g.op("Range", [scalar(0), totalLen, scalar(1)]), g.int64([0])]); // [1, total]
  const causal = g.op("LessOrEqual", [kIndex, qIndex]); // [seq, total]
  const notPad = g.op("Unsqueeze", [g.op("Cast", [attentionMask], { to: DataType.BOOL }), g.int64([1])]); // [batch, 1, total]
  const fullMask = g.op("Unsqueeze", [g.op("And", [causal, notPad]), g.int64([1, 2])], {}, { name: "mask_full" });
  const windowMasks = new Map<number, string>();
  const maskFor = (window: number | null): string => {
    if (window === null) return fullMask;
    let m = windowMasks.get(window);
    if (!m) {
      const inWindow = g.op("Less", [g.op("Sub", [qIndex, kIndex]), scalar(window)]);
      m = g.op("Unsqueeze", [g.op("And", [g.op("And", [causal, inWindow]), notPad]), g.int64([1, 2])], {}, { name: `mask_window${window}` });
      windowMasks.set(window, m);
    }
    return m;
  };
  const lowest = g.float32(FLOAT32_LOWEST);

  // ---- rotary embeddings: cos/sin [batch, seq, head_dim] from position ids
  const positions = g.op("Unsqueeze", [g.op("Cast", [positionIds], { to: DataType.FLOAT }), g.int64([2])]);
  const freqs = g.op("Mul", [positions, g.float32(spec.invFreq)]);
  const angles = g.op("Concat", [freqs, freqs], { axis: -1 });
  let cos = g.op("Cos", [angles], {}, { name: "rope_cos" });
  let sin = g.op("Sin", [angles], {}, { name: "rope_sin" });
  if (spec.attentionScaling !== 1) {
    cos = g.op("Mul", [cos, g.float32(spec.attentionScaling)]);
    sin = g.op("Mul", [sin, g.float32(spec.attentionScaling)]);
  }
  const cosQ = g.op("Unsqueeze", [cos, g.int64([2, 3])]); // [batch, seq, 1, 1, d] for q [batch, seq, kv, group, d]
  const sinQ = g.op("Unsqueeze", [sin, g.int64([2, 3])]);
  const cosK = g.op("Unsqueeze", [cos, g.int64([2])]); // [batch, seq, 1, d] for k [batch, seq, kv, d]
  const sinK = g.op("Unsqueeze", [sin, g.int64([2])]);
  const half = spec.headDim / 2;
  const rope = (x: string, c: string, s: string): string => {
    const [x1, x2] = g.opN("Split", [x, g.int64([half, half])], 2, { axis: -1 });
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: -1 });
    return g.op("Add", [g.op("Mul", [x, c]), g.op("Mul", [rotated, s])]);
  };

  // ---- decoder
  const group = spec.heads / spec.kvHeads;
  const qDim = spec.heads * spec.headDim;
  const kvDim = spec.kvHeads * spec.headDim;
  const scale = g.float32(1 / Math.sqrt(spec.headDim));
  // Tied causal LMs hold the embedding once: the same input serves the lookup and the lm_head.
  const tiedHead = spec.head === "causal" && (spec.tieEmbeddings || !weights.has("lm_head.weight"));
  if (tiedHead && !spec.tieEmbeddings) throw new UserError(`${weights.name}: no lm_head.weight and tie_word_embeddings is false`);
  let x = g.op("Gather", [weight("model.embed_tokens.weight", [spec.vocab, spec.hidden]), inputIds], { axis: 0 }, { name: "embeddings" });
  const presentNames: [string, string][] = [];
  let seqlensK: string | null = null;
  let totalI32: string | null = null;
  const gqaSeqlensK = () =>
    (seqlensK ??= g.op("Cast", [g.op("Sub", [g.op("ReduceSum", [attentionMask, g.int64([1])], { keepdims: 0 }), scalar(1)])], { to: DataType.INT32 }, { name: "seqlens_k" }));
  const gqaTotal = () => (totalI32 ??= g.op("Cast", [totalLen], { to: DataType.INT32 }, { name: "total_seq_len" }));
  for (let i = 0; i < spec.layers; i++) {
    const p = `model.layers.${i}`;
    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const q = linear(h, `${p}.self_attn.q_proj`, qDim, spec.hidden, spec.qkvBias);
    const k = linear(h, `${p}.self_attn.k_proj`, kvDim, spec.hidden, spec.qkvBias);
    const v = linear(h, `${p}.self_attn.v_proj`, kvDim, spec.hidden, spec.qkvBias);
    // Query head j·group + t uses key/value head j (transformers' repeat_kv order).
    let q5 = g.op("Reshape", [q, g.int64([0, 0, spec.kvHeads, group, spec.headDim])]);
    let k4 = g.op("Reshape", [k, g.int64([0, 0, spec.kvHeads, spec.headDim])]);
    if (spec.qkNorm) {
      // Qwen3: RMSNorm over each head's head_dim values, before the rotary embedding.
      q5 = rmsNormOver(q5, `${p}.self_attn.q_norm.weight`, spec.headDim);
      k4 = rmsNormOver(k4, `${p}.self_attn.k_norm.weight`, spec.headDim);
    }
    q5 = rope(q5, cosQ, sinQ);
    k4 = rope(k4, cosK, sinK);
    const v4 = g.op("Reshape", [v, g.int64([0, 0, spec.kvHeads, spec.headDim])]);
    let merged: string;
    if (options.attention === "gqa") {
      // com.microsoft.GroupQueryAttention (rotary already applied above). It assumes every row's
      // tokens are contiguous from the start (no left padding): seqlens_k = valid length − 1.
      const window = spec.windows[i];
      const [out, presentK, presentV] = g.opN(
        "GroupQueryAttention",
        [
          g.op("Reshape", [q5, g.int64([0, 0, qDim])]),
          g.op("Reshape", [k4, g.int64([0, 0, kvDim])]),
          v,
          cache ? pastNames[i][0] : "",
          cache ? pastNames[i][1] : "",
          gqaSeqlensK(),
          gqaTotal(),
        ],
        3,
        { num_heads: spec.heads, kv_num_heads: spec.kvHeads, scale: { float: 1 / Math.sqrt(spec.headDim) }, local_window_size: window === null ? -1 : window, do_rotary: 0 },
        { domain: "com.microsoft", name: `${p}.gqa` },
      );
      if (cache) presentNames.push([presentK, presentV]);
      merged = out;
    } else {
      const qT = g.op("Transpose", [q5], { perm: [0, 2, 3, 1, 4] }); // [batch, kv, group, seq, d]
      let kT = g.op("Transpose", [k4], { perm: [0, 2, 1, 3] }); // [batch, kv, seq, d]
      let vT = g.op("Transpose", [v4], { perm: [0, 2, 1, 3] });
      if (cache) {
        kT = g.op("Concat", [pastNames[i][0], kT], { axis: 2 }, { name: `present.${i}.key.value` });
        vT = g.op("Concat", [pastNames[i][1], vT], { axis: 2 }, { name: `present.${i}.value.value` });
        presentNames.push([kT, vT]);
      }
      const kForScores = g.op("Transpose", [g.op("Unsqueeze", [kT, g.int64([2])])], { perm: [0, 1, 2, 4, 3] }); // [batch, kv, 1, d, total]
      const scores = g.op("Mul", [g.op("MatMul", [qT, kForScores]), scale]); // [batch, kv, group, seq, total]
      const masked = g.op("Where", [maskFor(spec.windows[i]), scores, lowest]);
      const probs = g.op("Softmax", [masked], { axis: -1 });
      const context = g.op("MatMul", [probs, g.op("Unsqueeze", [vT, g.int64([2])])]); // [batch, kv, group, seq, d]
      merged = g.op("Reshape", [g.op("Transpose", [context], { perm: [0, 3, 1, 2, 4] }), g.int64([0, 0, qDim])]);
    }
    x = g.op("Add", [x, linear(merged, `${p}.self_attn.o_proj`, spec.hidden, qDim, spec.oBias)], {}, { name: `${p}.attn_residual` });
    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}.mlp.gate_proj`, spec.intermediate, spec.hidden, spec.mlpBias);
    const up = linear(h2, `${p}.mlp.up_proj`, spec.intermediate, spec.hidden, spec.mlpBias);
    const act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]); // SiLU(gate) · up
    x = g.op("Add", [x, linear(act, `${p}.mlp.down_proj`, spec.hidden, spec.intermediate, spec.mlpBias)], {}, { name: `${p}.mlp_residual` });
  }
  const hidden = rmsNorm(x, "model.norm.weight");

  const outputNames: string[] = [];
  if (spec.head === "causal") {
    const last = g.op("Slice", [hidden, g.op("Neg", [keep!]), g.int64([Number.MAX_SAFE_INTEGER]), g.int64([1])]);
    const logits = linear(last, tiedHead ? "model.embed_tokens" : "lm_head", spec.vocab, spec.hidden, false);
    g.output(logits, "logits", DataType.FLOAT, ["batch", "keep", spec.vocab]);
    outputNames.push("logits");
    presentNames.forEach(([k, v], i) => {
      g.output(k, `present.${i}.key`, DataType.FLOAT, ["batch", spec.kvHeads, "total", spec.headDim]);
      g.output(v, `present.${i}.value`, DataType.FLOAT, ["batch", spec.kvHeads, "total", spec.headDim]);
      outputNames.push(`present.${i}.key`, `present.${i}.value`);
    });
  } else {
    const scores = linear(hidden, "score", spec.numLabels, spec.hidden, weights.has("score.bias"));
    g.output(scores, "scores", DataType.FLOAT, ["batch", "seq", spec.numLabels]);
    outputNames.push("scores");
  }

  const inputNames = ["input_ids", "attention_mask", "position_ids", ...(keep ? ["logits_to_keep"] : []), ...pastNames.flat(), ...slots.map((s) => s.input)];
  const model = g.serialize(`${spec.architecture}${cache ? "_kv" : ""}`, `Built by expo-bot from ${weights.name} (${spec.architecture}).`);
  return { spec, model, weights: slots, cache, inputNames, outputNames };
}
