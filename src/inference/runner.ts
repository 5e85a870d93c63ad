/**
 * One onnxruntime-node session over a built graph, and the forward pass in plain arrays:
 * padded token ids, the attention mask, position ids and the KV cache in, logits (or
 * reward scores) and the new cache out. Blocking: call it from the inference worker.
 */
import * as ort from "onnxruntime-node";
import type { ModelConfig } from "../checkpoint/config.js";
import type { ModelWeights } from "../checkpoint/weights.js";
import type { ArchSpec } from "./arch.js";
import { buildGraph, type AttentionImpl, type BuiltGraph } from "./graph.js";
import { WeightStore, type AlphaPair, type LoadOptions } from "./weight-store.js";

export interface SessionOptions {
  /** Use the KV cache (causal LM; default true). */
  cache?: boolean;
  /** ORT intra-op threads (default: ORT's choice, one per core). */
  threads?: number;
  /** Let idle ORT pool threads spin (lower latency on a dedicated machine; default false). */
  spin?: boolean;
  /** Attention implementation (default "standard"; see graph.ts). */
  attention?: AttentionImpl;
  /** Execution providers, e.g. ["cuda", "cpu"] (default ["cpu"]). */
  executionProviders?: string[];
  /** How the weights are filled at load (helper threads for a large model; weight-store.ts). */
  fill?: LoadOptions;
}

export interface KvCache {
  /** Per layer [key, value], each [batch, kv_heads, length, head_dim]. */
  layers: [ort.Tensor, ort.Tensor][];
  length: number;
}

export interface ForwardInput {
  batch: number;
  seq: number;
  /** [batch × seq] token ids. */
  inputIds: ArrayLike<number>;
  /** [batch × (past + seq)] 1/0. */
  attentionMask: ArrayLike<number>;
  /** [batch × seq]. */
  positionIds: ArrayLike<number>;
  /** Causal LM: logits for the last `keep` positions (default: all). */
  keep?: number;
  past?: KvCache | null;
}

export interface ForwardOutput {
  /** Causal: logits [batch, keep, vocab]; reward: scores [batch, seq, num_labels]. */
  values: Float32Array;
  dims: number[];
  present: KvCache | null;
}

export class ModelRunner {
  private constructor(
    readonly spec: ArchSpec,
    readonly session: ort.InferenceSession,
    readonly cache: boolean,
    readonly graph: { bytes: number; nodes?: number },
    readonly attention: AttentionImpl,
    /** The float32 weights, fed as inputs on every run (rewritten in place by `refill`). */
    readonly store: WeightStore,
    private readonly weightFeeds: Record<string, ort.Tensor>,
  ) {}

  /**
   * Builds the graph, fills the weights (θ1, or θ1 + α(θ1 − θ0) with `pair`) and creates the
   * session over them. The weights are filled before the session exists, so the peak is the
   * float32 weights once plus a few MiB of read buffers.
   */
  static async create(config: ModelConfig, weights: ModelWeights, options: SessionOptions = {}, pair?: AlphaPair): Promise<ModelRunner> {
    const built: BuiltGraph = buildGraph(config, weights, { cache: options.cache, attention: options.attention });
    const store = await WeightStore.load(built.weights, weights, pair, options.fill);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: (options.executionProviders ?? ["cpu"]) as ort.InferenceSession.ExecutionProviderConfig[],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: ORT warns about constants its own optimizer left unused
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      // Idle pool threads sleep instead of spinning: decode steps are short, and spinning
      // threads fight everything else on a shared machine (measured: 10× slower decode).
      extra: { session: { intra_op: { allow_spinning: options.spin ? "1" : "0" }, inter_op: { allow_spinning: options.spin ? "1" : "0" } } },
    };
    const session = await ort.InferenceSession.create(built.model, sessionOptions);
    // Wrapping, not copying: the tensors share the store's arrays.
    const weightFeeds: Record<string, ort.Tensor> = {};
    for (const slot of built.weights) weightFeeds[slot.input] = new ort.Tensor("float32", store.arrays.get(slot.input)!, slot.dims);
    return new ModelRunner(built.spec, session, built.cache, { bytes: built.model.byteLength }, options.attention ?? "standard", store, weightFeeds);
  }

  /** Rewrites the weights in place (another α of the same pair); the session is kept. */
  refill(weights: ModelWeights, pair?: AlphaPair): Promise<void> {
    return this.store.fill(weights, pair);
  }

  emptyCache(batch: number): KvCache {
    const dims = [batch, this.spec.kvHeads, 0, this.spec.headDim];
    const layers: [ort.Tensor, ort.Tensor][] = [];
    for (let i = 0; i < this.spec.layers; i++) layers.push([new ort.Tensor("float32", new Float32Array(0), dims), new ort.Tensor("float32", new Float32Array(0), dims)]);
    return { layers, length: 0 };
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const { batch, seq } = input;
    const past = this.cache ? (input.past ?? this.emptyCache(batch)) : null;
    const total = seq + (past?.length ?? 0);
    if (input.inputIds.length !== batch * seq) throw new Error(`input_ids: expected ${batch * seq} values, got ${input.inputIds.length}`);
    if (input.attentionMask.length !== batch * total) throw new Error(`attention_mask: expected ${batch * total} values, got ${input.attentionMask.length}`);
    const i64 = (values: ArrayLike<number>, dims: number[]) => {
      const data = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
      return new ort.Tensor("int64", data, dims);
    };
    const feeds: Record<string, ort.Tensor> = {
      ...this.weightFeeds,
      input_ids: i64(input.inputIds, [batch, seq]),
      attention_mask: i64(input.attentionMask, [batch, total]),
      position_ids: i64(input.positionIds, [batch, seq]),
    };
    if (this.spec.head === "causal") feeds.logits_to_keep = i64([Math.min(input.keep ?? seq, seq)], [1]);
    if (past) {
      past.layers.forEach(([k, v], i) => {
        feeds[`past_key_values.${i}.key`] = k;
        feeds[`past_key_values.${i}.value`] = v;
      });
    }
    const out = await this.session.run(feeds);
    const main = this.spec.head === "causal" ? out.logits : out.scores;
    let present: KvCache | null = null;
    if (past) {
      const layers: [ort.Tensor, ort.Tensor][] = [];
      for (let i = 0; i < this.spec.layers; i++) layers.push([out[`present.${i}.key`], out[`present.${i}.value`]]);
      present = { layers, length: total };
    }
    return { values: main.data as Float32Array, dims: main.dims.slice(), present };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
