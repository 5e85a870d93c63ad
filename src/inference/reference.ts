/**
 * An independent, plain-TypeScript forward pass of Llama / Mistral / Qwen2 / Qwen3 in float64,
 * written from Hugging Face transformers v4.57 (models/llama/modeling_llama.py,
 * models/mistral/modeling_mistral.py, models/qwen2/modeling_qwen2.py, models/qwen3/modeling_qwen3.py,
 * modeling_rope_utils.py `_compute_default_rope_parameters` / `_compute_llama3_parameters`,
 * masking_utils.py `causal_mask_function` / `sliding_window_overlay` / `padding_mask_function`).
 * It shares no code with the ONNX builder (it reads config.json itself) and exists to check
 * the graph's numerics in tests. Slow: tiny models only.
 */
import type { ModelConfig } from "../checkpoint/config.js";
import type { ModelWeights } from "../checkpoint/weights.js";

export interface ReferenceOutput {
  /** Causal LM: logits [batch][seq][vocab]; classification: per-token scores [batch][seq][labels]. */
  perToken: Float64Array[][];
  /** Classification only: scores at the last non-padding token (transformers' pooling), [batch][labels]. */
  pooled?: Float64Array[];
}

type Mat = { rows: number; cols: number; data: Float64Array };

export async function referenceForward(
  config: ModelConfig,
  weights: ModelWeights,
  inputIds: number[][],
  attentionMask?: number[][],
  positionIds?: number[][],
): Promise<ReferenceOutput> {
  const arch = config.architectures?.[0] ?? "";
  const isClassifier = arch.endsWith("ForSequenceClassification");
  const H = config.hidden_size;
  const nHeads = config.num_attention_heads;
  const nKv = config.num_key_value_heads ?? nHeads;
  const D = config.head_dim ?? H / nHeads;
  const eps = config.rms_norm_eps ?? 1e-6;
  const modelType = config.model_type;
  const W = async (name: string): Promise<Mat> => {
    const { info } = weights.get(name);
    const data = Float64Array.from(await weights.readFloat32(name));
    return { rows: info.shape[0], cols: info.shape.length > 1 ? info.shape[1] : 1, data };
  };
  const maybe = async (name: string) => (weights.has(name) ? W(name) : null);

  // Sliding window per layer, as transformers' config.layer_types resolves it.
  const windowOf = (layer: number): number | null => {
    if (modelType === "mistral") return config.sliding_window ?? null;
    if (modelType === "qwen2" || modelType === "qwen3") {
      if (!config.use_sliding_window || config.sliding_window == null) return null;
      const from = typeof config.max_window_layers === "number" ? config.max_window_layers : 28;
      return layer >= from ? config.sliding_window : null;
    }
    return null;
  };

  // inv_freq = 1 / base^(arange(0, D, 2)/D) (float32 in torch), then llama3 scaling.
  const base = config.rope_theta ?? 10000;
  let invFreq: number[] = [];
  for (let i = 0; i < D; i += 2) invFreq.push(Math.fround(1 / Math.fround(Math.pow(base, Math.fround(i / D)))));
  const rs = config.rope_scaling;
  const ropeType = rs ? (rs.rope_type ?? rs.type) : undefined;
  if (rs && ropeType === "llama3") {
    const factor = rs.factor!, lowF = rs.low_freq_factor!, highF = rs.high_freq_factor!, old = rs.original_max_position_embeddings!;
    const lowW = old / lowF, highW = old / highF;
    invFreq = invFreq.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      const llama = wavelen > lowW ? f / factor : f;
      const smooth = (old / wavelen - lowF) / (highF - lowF);
      const smoothed = ((1 - smooth) * llama) / factor + smooth * llama;
      const medium = !(wavelen < highW) && !(wavelen > lowW);
      return medium ? smoothed : llama;
    });
  } else if (rs && ropeType === "linear") {
    invFreq = invFreq.map((f) => f / rs.factor!);
  } else if (rs && ropeType !== "default" && ropeType !== undefined) {
    throw new Error(`reference: rope type ${ropeType} not implemented`);
  }

  const B = inputIds.length;
  const S = inputIds[0].length;
  const mask = attentionMask ?? inputIds.map((r) => r.map(() => 1));
  const pos = positionIds ?? inputIds.map((r) => r.map((_, i) => i));

  const embed = await W("model.embed_tokens.weight");
  // hidden[b][s] = embedding row
  let hs: Float64Array[][] = inputIds.map((row) => row.map((id) => embed.data.slice(id * H, (id + 1) * H)));

  const rmsNorm = (x: Float64Array, w: Mat): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + eps);
    return x.map((v, i) => w.data[i] * v * r);
  };
  const linear = (x: Float64Array, w: Mat, b: Mat | null): Float64Array => {
    const out = new Float64Array(w.rows);
    for (let o = 0; o < w.rows; o++) {
      let acc = b ? b.data[o] : 0;
      const off = o * w.cols;
      for (let i = 0; i < w.cols; i++) acc += w.data[off + i] * x[i];
      out[o] = acc;
    }
    return out;
  };
  // apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, cos = cat(freqs, freqs).
  const rotate = (x: Float64Array, offset: number, p: number) => {
    const half = D / 2;
    const tmp = x.slice(offset, offset + D);
    for (let i = 0; i < D; i++) {
      const angle = Math.fround(p * invFreq[i % half]);
      const rot = i < half ? -tmp[i + half] : tmp[i - half];
      x[offset + i] = tmp[i] * Math.cos(angle) + rot * Math.sin(angle);
    }
  };

  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const [ln1, wq, wk, wv, bq, bk, bv, wo, bo, ln2, wg, wu, wd] = await Promise.all([
      W(`${p}.input_layernorm.weight`),
      W(`${p}.self_attn.q_proj.weight`),
      W(`${p}.self_attn.k_proj.weight`),
      W(`${p}.self_attn.v_proj.weight`),
      maybe(`${p}.self_attn.q_proj.bias`),
      maybe(`${p}.self_attn.k_proj.bias`),
      maybe(`${p}.self_attn.v_proj.bias`),
      W(`${p}.self_attn.o_proj.weight`),
      maybe(`${p}.self_attn.o_proj.bias`),
      W(`${p}.post_attention_layernorm.weight`),
      W(`${p}.mlp.gate_proj.weight`),
      W(`${p}.mlp.up_proj.weight`),
      W(`${p}.mlp.down_proj.weight`),
    ]);
    // Qwen3Attention: q_norm / k_norm (RMSNorm over head_dim) on each head, before rotary.
    const [qNorm, kNorm] = await Promise.all([maybe(`${p}.self_attn.q_norm.weight`), maybe(`${p}.self_attn.k_norm.weight`)]);
    const headNorm = (x: Float64Array, heads: number, w: Mat | null) => {
      if (!w) return;
      for (let hh = 0; hh < heads; hh++) x.set(rmsNorm(x.slice(hh * D, (hh + 1) * D), w), hh * D);
    };
    const [bg, bu, bd] = await Promise.all([maybe(`${p}.mlp.gate_proj.bias`), maybe(`${p}.mlp.up_proj.bias`), maybe(`${p}.mlp.down_proj.bias`)]);
    const window = windowOf(l);
    const next: Float64Array[][] = [];
    for (let b = 0; b < B; b++) {
      const q: Float64Array[] = [], k: Float64Array[] = [], v: Float64Array[] = [];
      for (let s = 0; s < S; s++) {
        const h = rmsNorm(hs[b][s], ln1);
        const qs = linear(h, wq, bq), ks = linear(h, wk, bk);
        headNorm(qs, nHeads, qNorm);
        headNorm(ks, nKv, kNorm);
        for (let hh = 0; hh < nHeads; hh++) rotate(qs, hh * D, pos[b][s]);
        for (let hh = 0; hh < nKv; hh++) rotate(ks, hh * D, pos[b][s]);
        q.push(qs); k.push(ks); v.push(linear(h, wv, bv));
      }
      const rows: Float64Array[] = [];
      for (let s = 0; s < S; s++) {
        const attnOut = new Float64Array(nHeads * D);
        for (let hh = 0; hh < nHeads; hh++) {
          const kvh = Math.floor(hh / (nHeads / nKv)); // repeat_kv
          const scores: number[] = [];
          const visible: number[] = [];
          for (let t = 0; t < S; t++) {
            const ok = t <= s && mask[b][t] === 1 && (window === null || t > s - window);
            if (!ok) continue;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q[s][hh * D + d] * k[t][kvh * D + d];
            scores.push(dot / Math.sqrt(D));
            visible.push(t);
          }
          if (visible.length === 0) continue; // a padding query: output irrelevant
          const m = Math.max(...scores);
          const e = scores.map((x) => Math.exp(x - m));
          const z = e.reduce((a, c) => a + c, 0);
          visible.forEach((t, j) => {
            for (let d = 0; d < D; d++) attnOut[hh * D + d] += (e[j] / z) * v[t][kvh * D + d];
          });
        }
        const o = linear(attnOut, wo, bo);
        const x1 = hs[b][s].map((val, i) => val + o[i]);
        const h2 = rmsNorm(x1, ln2);
        const gate = linear(h2, wg, bg), up = linear(h2, wu, bu);
        const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
        const down = linear(act, wd, bd);
        rows.push(x1.map((val, i) => val + down[i]));
      }
      next.push(rows);
    }
    hs = next;
  }
  const norm = await W("model.norm.weight");
  const finalHs = hs.map((row) => row.map((x) => rmsNorm(x, norm)));
  if (isClassifier) {
    const score = await W("score.weight");
    const perToken = finalHs.map((row) => row.map((x) => linear(x, score, null)));
    // transformers ≥ 4.48: the rightmost token that is not pad_token_id.
    const pad = typeof config.pad_token_id === "number" ? config.pad_token_id : null;
    const pooled = inputIds.map((row, b) => {
      let last = S - 1;
      if (pad !== null) {
        last = -1;
        row.forEach((id, i) => { if (id !== pad) last = i; });
        if (last < 0) last = S - 1; // transformers' argmax of all zeros → 0... all-pad rows are meaningless
      }
      return perToken[b][last];
    });
    return { perToken, pooled };
  }
  // tie_word_embeddings: lm_head is the embedding matrix, whatever the file holds.
  const head = config.tie_word_embeddings ? embed : ((await maybe("lm_head.weight")) ?? embed);
  return { perToken: finalHs.map((row) => row.map((x) => linear(x, head, null))) };
}
