/**
 * A loaded model folder: the ONNX session, the tokenizer and chat template, and the
 * operations the rest of the project needs — batched generation with the KV cache, full
 * logits of a token sequence, reward scores. Runs blocking ONNX calls: the public API
 * (index.ts) drives it from a worker thread; tests and the worker use it directly.
 */
import { isAdapter, openAdapterFrom } from "../checkpoint/adapter.js";
import { readModelConfig, type ModelConfig } from "../checkpoint/config.js";
import { adapterTensorView, fitLoraModules, grownVocabulary } from "../checkpoint/lora-update.js";
import { localFolderAccess, openModelWeights, type ModelWeights } from "../checkpoint/weights.js";
import { UserError } from "../util/errors.js";
import type { ArchSpec } from "./arch.js";
import { ModelRunner, type KvCache, type SessionOptions } from "./runner.js";
import type { LoraUpdate } from "./weight-store.js";
import { sampleToken, seededRandom, type SamplingOptions } from "./sampling.js";
import { ModelTokenizer, type Prompt } from "./tokenizer.js";

export interface LoadOptions extends SessionOptions {
  /**
   * θ0's folder: load the folder given as θ1 and serve θ1 + α(θ1 − θ0) for any α, switched in
   * place with `setAlpha` (one session, no extrapolated folder). Causal LMs only. θ1 may be a
   * LoRA adapter folder on θ0: then θ0 is loaded once and each α is θ0 + (1 + α)·s·B·A.
   */
  extrapolateFrom?: string;
  /** The first α served with `extrapolateFrom` (default 0: θ1 itself). */
  alpha?: number;
}

export interface Generation {
  /** The generated text, special tokens removed, cut before any stop string. */
  text: string;
  /** The generated token ids (the stop token included when one ended the sequence). */
  tokenIds: number[];
  /** The prompt's token ids as the model saw them. */
  promptTokenIds: number[];
  finishReason: "stop" | "length";
}

export interface Logits {
  /** Row-major [dims[0], dims[1]]: one row per input position. */
  values: Float32Array;
  dims: [number, number];
}

export interface GenerationStats {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
}

export interface ScorePair {
  prompt: Prompt;
  response: string;
}

/** A loaded runner, and for an α pair the open θ1 / θ0 weights its `setAlpha` re-reads (and the adapter, for a LoRA θ1). */
interface Loaded {
  runner: ModelRunner;
  pair: { theta1: ModelWeights; theta0: ModelWeights; alpha: number; lora?: LoraUpdate; close: () => Promise<void> } | null;
}

async function loadRunner(dir: string, options: LoadOptions, expect: "causal" | "reward"): Promise<Loaded> {
  const { extrapolateFrom, alpha, ...session } = options;
  if (extrapolateFrom !== undefined && expect !== "causal") throw new UserError("extrapolateFrom is for causal LMs only");
  if (await isAdapter(localFolderAccess(dir))) {
    if (extrapolateFrom === undefined) throw new UserError(`${dir} is a LoRA adapter: load it with extrapolateFrom (θ0, the base model it was trained on)`);
    return loadAdapterRunner(dir, extrapolateFrom, alpha ?? 0, session);
  }
  const config = await readModelConfig(dir);
  const weights = await openModelWeights(dir);
  const theta0 = extrapolateFrom !== undefined ? await openModelWeights(extrapolateFrom).catch(async (err) => {
    await weights.close();
    throw err;
  }) : null;
  let keepOpen = false;
  try {
    if (theta0) await checkSameArchitecture(dir, config, extrapolateFrom!);
    const a = alpha ?? 0;
    const runner = await ModelRunner.create(config, weights, session, theta0 ? { theta0, alpha: a } : undefined);
    if (runner.spec.head !== expect) {
      await runner.close();
      throw new UserError(
        `${dir}: ${runner.spec.architecture} is ${expect === "causal" ? "a sequence-classification (reward) model, not a causal LM" : "a causal LM, not a sequence-classification reward model"}`,
      );
    }
    keepOpen = theta0 !== null;
    return { runner, pair: theta0 ? { theta1: weights, theta0, alpha: a, close: async () => void (await Promise.all([weights.close(), theta0.close()])) } : null };
  } finally {
    if (!keepOpen) {
      await weights.close();
      await theta0?.close();
    }
  }
}

/**
 * θ1 a LoRA adapter on θ0 (docs/lora.md): θ0's config and weights with the adapter's update
 * applied per α in the weight store. The adapter is read and judged (DoRA and the like refused)
 * before θ0 is opened; its modules must fit θ0. Config as `extrapolate --merge` writes it:
 * θ0's, with `vocab_size` following an embedding the adapter grew.
 */
async function loadAdapterRunner(dir: string, base: string, alpha: number, session: SessionOptions): Promise<Loaded> {
  const adapter = await openAdapterFrom(localFolderAccess(dir));
  const theta0 = await openModelWeights(base).catch(async (err) => {
    await adapter.weights.close();
    throw err;
  });
  const close = async () => void (await Promise.all([adapter.weights.close(), theta0.close()]));
  try {
    const headers0 = new Map([...theta0.tensors].map(([n, l]) => [n, l.info]));
    const { modules, problems } = fitLoraModules(headers0, adapter);
    if (problems.length) throw new UserError(`the adapter ${dir} does not fit θ0 ${base} (was it made for another base model?):\n  - ${problems.slice(0, 20).join("\n  - ")}`, { exitCode: 3 });
    const config = await readModelConfig(base);
    const theta1 = adapterTensorView(theta0, adapter);
    const grown = grownVocabulary(headers0, adapter);
    if (grown !== null) config.vocab_size = grown;
    const lora: LoraUpdate = { adapter: adapter.weights, modules: new Map(modules.map((m) => [m.baseTensor, m])) };
    const runner = await ModelRunner.create(config, theta1, session, { theta0, alpha, lora });
    if (runner.spec.head !== "causal") {
      await runner.close();
      throw new UserError(`${base}: ${runner.spec.architecture} is a sequence-classification (reward) model, not a causal LM`);
    }
    return { runner, pair: { theta1, theta0, alpha, lora, close } };
  } catch (err) {
    await close();
    throw err;
  }
}

/** θ0 must be the same architecture and geometry as θ1 (vocabulary growth aside). */
async function checkSameArchitecture(dir1: string, config1: ModelConfig, dir0: string): Promise<void> {
  const config0 = await readModelConfig(dir0);
  for (const key of ["model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim"] as const) {
    if (config0[key] !== config1[key]) {
      throw new UserError(`${dir0} (θ0) and ${dir1} (θ1) differ in config.json "${key}": ${JSON.stringify(config0[key])} vs ${JSON.stringify(config1[key])}`);
    }
  }
}

export class CausalLMEngine {
  /** Timings of the last generate call. */
  lastStats: GenerationStats = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };

  /** The last `setAlpha` that rewrote the weights, and how long it took. */
  lastSwitch: { alpha: number; ms: number } | null = null;

  private constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: ModelTokenizer,
    private readonly pair: Loaded["pair"],
  ) {}

  static async load(dir: string, options: LoadOptions = {}): Promise<CausalLMEngine> {
    // A LoRA θ1 has θ0's tokenizer unless it ships its own files (a merged folder's overlay).
    const adapterBase = options.extrapolateFrom !== undefined && (await isAdapter(localFolderAccess(dir))) ? options.extrapolateFrom : undefined;
    const tokenizer = await ModelTokenizer.load(dir, adapterBase);
    const { runner, pair } = await loadRunner(dir, options, "causal");
    return new CausalLMEngine(runner, tokenizer, pair);
  }

  get spec(): ArchSpec {
    return this.runner.spec;
  }

  /** The α served (null when loaded without `extrapolateFrom`). */
  get alpha(): number | null {
    return this.pair?.alpha ?? null;
  }

  /**
   * Serves θ1 + α(θ1 − θ0) from now on: rewrites the float32 weights in place from the two
   * checkpoints (read again, chunk by chunk); the session, the graph and the memory stay.
   */
  async setAlpha(alpha: number): Promise<{ alpha: number; ms: number } | null> {
    if (!this.pair) throw new UserError("setAlpha needs a model loaded with extrapolateFrom (θ0's folder)");
    if (alpha === this.pair.alpha) return null;
    const t0 = performance.now();
    await this.runner.refill(this.pair.theta1, { theta0: this.pair.theta0, alpha, lora: this.pair.lora });
    this.pair.alpha = alpha;
    this.lastSwitch = { alpha, ms: performance.now() - t0 };
    return this.lastSwitch;
  }

  encode(prompt: Prompt, chatTemplate?: boolean): number[] {
    return this.tokenizer.encodePrompt(prompt, chatTemplate);
  }

  async generate(prompts: Prompt[], options: SamplingOptions = {}): Promise<Generation[]> {
    const promptIds = prompts.map((p) => this.encode(p, options.chatTemplate));
    const generated = await this.generateTokenIds(promptIds, options);
    return generated.map((g, i) => {
      let text = this.tokenizer.decode(g.tokenIds, true);
      let finishReason = g.finishReason;
      for (const s of options.stop ?? []) {
        const at = s ? text.indexOf(s) : -1;
        if (at >= 0) {
          text = text.slice(0, at);
          finishReason = "stop";
        }
      }
      return { text, tokenIds: g.tokenIds, promptTokenIds: promptIds[i], finishReason };
    });
  }

  /** Generation from token ids, in batches of `batchSize` prompts (left padding). */
  async generateTokenIds(promptIds: number[][], options: SamplingOptions = {}): Promise<{ tokenIds: number[]; finishReason: "stop" | "length" }[]> {
    const batchSize = Math.max(1, options.batchSize ?? 8);
    const stats: GenerationStats = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };
    const out: { tokenIds: number[]; finishReason: "stop" | "length" }[] = new Array(promptIds.length);
    // Batches of similar lengths waste less on padding; each prompt keeps its own random stream.
    const order = byLength(promptIds);
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const results = await this.generateBatch(indices.map((i) => promptIds[i]), indices, options, stats);
      indices.forEach((i, b) => (out[i] = results[b]));
    }
    this.lastStats = stats;
    return out;
  }

  private async generateBatch(prompts: number[][], indices: number[], options: SamplingOptions, stats: GenerationStats) {
    const spec = this.runner.spec;
    const maxNew = options.maxNewTokens ?? 256;
    const useCache = (options.useCache ?? true) && this.runner.cache;
    const stopIds = new Set([...(options.ignoreEos ? [] : this.tokenizer.eosIds), ...(options.stopTokenIds ?? [])]);
    const pad = this.tokenizer.padId ?? this.tokenizer.eosIds[0] ?? 0;
    const B = prompts.length;
    if (prompts.some((p) => p.length === 0)) throw new UserError("a prompt encodes to no tokens");
    const longest = Math.max(...prompts.map((p) => p.length));
    if (this.runner.attention === "gqa" && prompts.some((p) => p.length !== longest)) {
      throw new UserError("attention \"gqa\" (com.microsoft.GroupQueryAttention) cannot take left-padded batches: give prompts of one length or batchSize 1");
    }
    const randoms = indices.map((i) => seededRandom(options.seed ?? 0, i));
    const counts = prompts.map(() => new Map<number, number>());
    const generated: number[][] = prompts.map(() => []);
    const done = prompts.map(() => false);
    const finish: ("stop" | "length")[] = prompts.map(() => "length");
    // Left padding: row b is [pad × (longest − len), prompt]; positions count real tokens only.
    const rows = prompts.map((p) => [...new Array(longest - p.length).fill(pad), ...p]);
    const masks = prompts.map((p) => [...new Array(longest - p.length).fill(0), ...p.map(() => 1)]);
    const positionOf = (b: number, column: number) => Math.max(0, column - (longest - prompts[b].length));

    let past: KvCache | null = null;
    let stepInput = rows.map((r) => r.slice());
    let stepStart = 0; // column of stepInput's first token
    for (let step = 0; step < maxNew && !done.every(Boolean); step++) {
      const seq = stepInput[0].length;
      const t0 = performance.now();
      const { values, dims, present } = await this.runner.forward({
        batch: B,
        seq,
        inputIds: stepInput.flat(),
        attentionMask: masks.flat(),
        positionIds: stepInput.flatMap((r, b) => r.map((_, j) => positionOf(b, stepStart + j))),
        keep: 1,
        past,
      });
      const vocab = dims[2];
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          next.push(pad);
          continue;
        }
        const token = sampleToken(values, b * vocab, Math.min(vocab, spec.vocab), counts[b], options, randoms[b]);
        generated[b].push(token);
        counts[b].set(token, (counts[b].get(token) ?? 0) + 1);
        if (stopIds.has(token)) {
          done[b] = true;
          finish[b] = "stop";
        } else if (options.stop?.length) {
          const text = this.tokenizer.decode(generated[b], true);
          if (options.stop.some((s) => s && text.includes(s))) {
            done[b] = true;
            finish[b] = "stop";
          }
        }
        next.push(token);
      }
      // Step time: the forward pass and the sampling of the batch's next tokens.
      const ms = performance.now() - t0;
      if (step === 0) {
        stats.prefillTokens += B * seq;
        stats.prefillMs += ms;
      } else {
        stats.decodeTokens += B;
        stats.decodeMs += ms;
      }
      for (let b = 0; b < B; b++) {
        rows[b].push(next[b]);
        masks[b].push(1);
      }
      if (useCache) {
        past = present;
        stepStart = rows[0].length - 1;
        stepInput = next.map((t) => [t]);
      } else {
        stepInput = rows.map((r) => r.slice());
      }
    }
    return generated.map((tokenIds, b) => ({ tokenIds, finishReason: finish[b] }));
  }

  /** Logits [seq, vocab] for every position of one token sequence (no padding, no cache reuse). */
  async logits(tokenIds: number[]): Promise<Logits> {
    if (tokenIds.length === 0) throw new UserError("no token ids given");
    const { values, dims } = await this.runner.forward({
      batch: 1,
      seq: tokenIds.length,
      inputIds: tokenIds,
      attentionMask: tokenIds.map(() => 1),
      positionIds: tokenIds.map((_, i) => i),
      keep: tokenIds.length,
    });
    return { values, dims: [dims[1], dims[2]] };
  }

  async close(): Promise<void> {
    await this.runner.close();
    await this.pair?.close();
  }
}

export class RewardEngine {
  private constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: ModelTokenizer,
  ) {}

  static async load(dir: string, options: LoadOptions = {}): Promise<RewardEngine> {
    const tokenizer = await ModelTokenizer.load(dir);
    return new RewardEngine((await loadRunner(dir, options, "reward")).runner, tokenizer);
  }

  get spec(): ArchSpec {
    return this.runner.spec;
  }

  /** The conversation (user prompt, assistant response) through the reward model's chat template. */
  encodePair(pair: ScorePair): number[] {
    return this.tokenizer.encodeConversation(pair.prompt, pair.response);
  }

  /** Reward (label 0) of each pair. */
  async score(pairs: ScorePair[], options: { batchSize?: number } = {}): Promise<number[]> {
    const scores = await this.scoreTokenIds(pairs.map((p) => this.encodePair(p)), options);
    return scores.map((s) => s[0]);
  }

  /**
   * All labels' scores of token sequences, read at each sequence's last non-padding token as
   * transformers' *ForSequenceClassification does. Right padding with the pad token, so
   * positions are 0… as transformers computes them when not given.
   */
  async scoreTokenIds(sequences: number[][], options: { batchSize?: number } = {}): Promise<number[][]> {
    const batchSize = Math.max(1, options.batchSize ?? 8);
    const pad = this.tokenizer.padId ?? this.runner.spec.padTokenId;
    const out: number[][] = new Array(sequences.length);
    const order = byLength(sequences);
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const batch = indices.map((i) => sequences[i]);
      if (batch.some((s) => s.length === 0)) throw new UserError("a conversation encodes to no tokens");
      const S = Math.max(...batch.map((s) => s.length));
      const ids = batch.map((s) => [...s, ...new Array(S - s.length).fill(pad ?? 0)]);
      const { values, dims } = await this.runner.forward({
        batch: batch.length,
        seq: S,
        inputIds: ids.flat(),
        attentionMask: batch.flatMap((s) => [...s.map(() => 1), ...new Array(S - s.length).fill(0)]),
        positionIds: batch.flatMap(() => Array.from({ length: S }, (_, i) => i)),
      });
      const labels = dims[2];
      batch.forEach((s, b) => {
        // transformers ≥ 4.48: the rightmost token that is not pad_token_id (the last token when there is none).
        let last = s.length - 1;
        if (pad !== null) {
          last = -1;
          for (let i = 0; i < S; i++) if (ids[b][i] !== pad) last = i;
          if (last < 0) last = s.length - 1;
        }
        out[indices[b]] = Array.from(values.subarray((b * S + last) * labels, (b * S + last + 1) * labels));
      });
    }
    return out;
  }

  /** Per-token scores [seq, num_labels] of one sequence (the head before pooling). */
  async logits(tokenIds: number[]): Promise<Logits> {
    if (tokenIds.length === 0) throw new UserError("no token ids given");
    const { values, dims } = await this.runner.forward({
      batch: 1,
      seq: tokenIds.length,
      inputIds: tokenIds,
      attentionMask: tokenIds.map(() => 1),
      positionIds: tokenIds.map((_, i) => i),
    });
    return { values, dims: [dims[1], dims[2]] };
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

/** Indices of `sequences` ordered by length (stable), so batches hold similar lengths. */
function byLength(sequences: number[][]): number[] {
  return sequences.map((_, i) => i).sort((a, b) => sequences[a].length - sequences[b].length || a - b);
}
