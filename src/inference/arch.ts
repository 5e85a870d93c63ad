/**
 * What the graph builder and the reference forward pass need to know about a checkpoint,
 * resolved once from config.json: the architecture family, the head (causal LM or
 * sequence classification), attention geometry, per-layer sliding windows, biases, tying,
 * and the rotary inverse frequencies (with Llama-3 scaling).
 *
 * Semantics follow Hugging Face transformers v4.57 (modeling_llama.py, modeling_mistral.py, modeling_qwen3.py,
 * modeling_qwen2.py, modeling_rope_utils.py, masking_utils.py).
 */
import { headDim, kvHeads, type ModelConfig } from "../checkpoint/config.js";
import { UserError } from "../util/errors.js";

export type Family = "llama" | "mistral" | "qwen2" | "qwen3";
export type Head = "causal" | "reward";

export interface ArchSpec {
  family: Family;
  head: Head;
  architecture: string;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  /** Sliding window per layer (null: full attention), in transformers' sense: key k is visible from query q when q − k < window. */
  windows: (number | null)[];
  qkvBias: boolean;
  oBias: boolean;
  /** Qwen3: RMSNorm (weights q_norm / k_norm, [head_dim]) on each query and key head before the rotary embedding. */
  qkNorm: boolean;
  mlpBias: boolean;
  tieEmbeddings: boolean;
  numLabels: number;
  padTokenId: number | null;
  /** Rotary inverse frequencies, float32, length headDim/2. */
  invFreq: Float32Array;
  /** Multiplier on cos/sin (transformers' attention_factor; 1 for default/linear/llama3). */
  attentionScaling: number;
}

const FAMILIES: Record<string, Family> = { llama: "llama", mistral: "mistral", qwen2: "qwen2", qwen3: "qwen3" };

export function resolveArch(config: ModelConfig): ArchSpec {
  const architecture = config.architectures?.[0] ?? "";
  const m = /^(Llama|Mistral|Qwen2|Qwen3)For(CausalLM|SequenceClassification)$/.exec(architecture);
  const familyFromType = config.model_type ? FAMILIES[config.model_type] : undefined;
  if (!m || !familyFromType) {
    throw new UserError(
      `unsupported architecture ${JSON.stringify(architecture)} (model_type ${JSON.stringify(config.model_type)}): ` +
        "embedded inference supports Llama, Mistral, Qwen2 and Qwen3 ForCausalLM / ForSequenceClassification",
    );
  }
  const family = familyFromType;
  const head: Head = m[2] === "CausalLM" ? "causal" : "reward";
  if (config.hidden_act !== undefined && config.hidden_act !== "silu") throw new UserError(`hidden_act "${String(config.hidden_act)}" is not supported (only silu)`);
  const hd = headDim(config);
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new UserError(`head_dim ${hd} must be an even integer`);
  const nKv = kvHeads(config);
  if (config.num_attention_heads % nKv !== 0) throw new UserError(`num_attention_heads ${config.num_attention_heads} is not a multiple of num_key_value_heads ${nKv}`);

  const layers = config.num_hidden_layers;
  let windows: (number | null)[] = new Array(layers).fill(null);
  if (family === "mistral" && config.sliding_window != null) {
    windows = windows.map(() => config.sliding_window as number);
  } else if ((family === "qwen2" || family === "qwen3") && config.use_sliding_window && config.sliding_window != null) {
    // Qwen2 / Qwen3: layers from max_window_layers on use the window (transformers' layer_types).
    const from = typeof config.max_window_layers === "number" ? config.max_window_layers : 28;
    windows = windows.map((_, i) => (i >= from ? (config.sliding_window as number) : null));
  }
  if (Array.isArray(config.layer_types)) {
    const types = config.layer_types as string[];
    windows = windows.map((w, i) => (types[i] === "sliding_attention" ? ((config.sliding_window as number | null) ?? w) : types[i] === "full_attention" ? null : w));
  }

  const attentionBias = family === "qwen2" ? true : Boolean(config.attention_bias);
  const { invFreq, attentionScaling } = ropeInverseFrequencies(config, hd);
  // transformers' Llama/Mistral/Qwen2 configs default tie_word_embeddings to false.
  const tie = config.tie_word_embeddings ?? false;
  return {
    family,
    head,
    architecture,
    hidden: config.hidden_size,
    intermediate: config.intermediate_size,
    layers,
    heads: config.num_attention_heads,
    kvHeads: nKv,
    headDim: hd,
    vocab: config.vocab_size,
    eps: config.rms_norm_eps ?? 1e-6,
    windows,
    qkvBias: attentionBias,
    // Llama's and Qwen3's attention_bias also put a bias on o_proj; Qwen2's o_proj has none.
    oBias: family !== "qwen2" && Boolean(config.attention_bias),
    qkNorm: family === "qwen3",
    mlpBias: family === "llama" && Boolean(config.mlp_bias),
    tieEmbeddings: tie,
    numLabels: config.num_labels ?? (config.id2label ? Object.keys(config.id2label as object).length : 2),
    padTokenId: typeof config.pad_token_id === "number" ? config.pad_token_id : null,
    invFreq,
    attentionScaling,
  };
}

/**
 * transformers' `_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`
 * and `_compute_llama3_parameters` (modeling_rope_utils.py, v4.57).
 */
export function ropeInverseFrequencies(config: ModelConfig, dim: number): { invFreq: Float32Array; attentionScaling: number } {
  const base = config.rope_theta ?? 10000;
  const partial = typeof config.partial_rotary_factor === "number" ? config.partial_rotary_factor : 1;
  if (partial !== 1) throw new UserError(`partial_rotary_factor ${partial} is not supported`);
  const half = dim / 2;
  // inv_freq = 1 / base^(arange(0, dim, 2) / dim), computed by torch in float32.
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * i) / dim))));
  const scaling = config.rope_scaling;
  const type = scaling ? (scaling.rope_type ?? scaling.type ?? "default") : "default";
  if (type === "default") {
    // nothing
  } else if (type === "linear") {
    const factor = requireNumber(scaling!.factor, "rope_scaling.factor");
    for (let i = 0; i < half; i++) inv[i] = inv[i] / factor;
  } else if (type === "llama3") {
    const factor = requireNumber(scaling!.factor, "rope_scaling.factor");
    const low = requireNumber(scaling!.low_freq_factor, "rope_scaling.low_freq_factor");
    const high = requireNumber(scaling!.high_freq_factor, "rope_scaling.high_freq_factor");
    const oldContext = requireNumber(scaling!.original_max_position_embeddings, "rope_scaling.original_max_position_embeddings");
    const lowWavelen = oldContext / low;
    const highWavelen = oldContext / high;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      let f = wavelen > lowWavelen ? inv[i] / factor : inv[i];
      const isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (isMedium) {
        const smooth = (oldContext / wavelen - low) / (high - low);
        f = ((1 - smooth) * f) / factor + smooth * f;
      }
      inv[i] = f;
    }
  } else {
    throw new UserError(`rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`);
  }
  return { invFreq: Float32Array.from(inv), attentionScaling: 1 };
}

function requireNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${what} must be a number, got ${JSON.stringify(v)}`);
  return v;
}
