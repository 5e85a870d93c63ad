/**
 * Embedded inference, the public API: load a causal LM or a reward model from a local
 * transformers folder (safetensors + config.json + tokenizer files) and run it with
 * onnxruntime-node in a worker thread.
 *
 *   const lm = await loadCausalLM(dir);
 *   const [out] = await lm.generate(["Write a haiku"], { maxNewTokens: 64, temperature: 0.7, topP: 0.9, seed: 1 });
 *   await lm.close();
 *
 *   const rm = await loadRewardModel(rewardDir);
 *   const [r] = await rm.score([{ prompt: "Write a haiku", response: out.text }]);
 *   await rm.close();
 */
import type { Worker } from "node:worker_threads";
import { UserError } from "../util/errors.js";
import { startModuleWorker } from "../util/start-worker.js";
import type { ArchSpec } from "./arch.js";
import { CausalLMEngine, RewardEngine, type Generation, type GenerationStats, type LoadOptions, type Logits, type ScorePair } from "./engine.js";
import type { SamplingOptions } from "./sampling.js";
import type { ChatMessage, Prompt } from "./tokenizer.js";
import type { WorkerRequest, WorkerResponse } from "./worker.js";

export type { ChatMessage, Generation, GenerationStats, LoadOptions, Logits, Prompt, SamplingOptions, ScorePair };

export interface ModelInfo {
  spec: Omit<ArchSpec, "invFreq">;
  eosIds: number[];
  padId: number | null;
  hasChatTemplate: boolean;
}

export interface InferenceOptions extends LoadOptions {
  /** Run in the calling thread instead of a worker (blocks the event loop; for scripts and tests). */
  inProcess?: boolean;
}

export interface CausalLM {
  readonly info: ModelInfo;
  /** One generation per prompt (raw text gets the chat template as a user turn; or pass messages). */
  generate(prompts: Prompt[], sampling?: SamplingOptions): Promise<Generation[]>;
  /** Logits [seq, vocab] of a token sequence, every position. */
  logits(tokenIds: number[]): Promise<Logits>;
  /** The token ids a prompt becomes (chat template applied unless `chatTemplate` is false). */
  encode(prompt: Prompt, chatTemplate?: boolean): Promise<number[]>;
  /** Token and timing counts of the last generate call. */
  stats(): Promise<GenerationStats>;
  /**
   * Loaded with `extrapolateFrom`: serve θ1 + α(θ1 − θ0) from now on, rewriting the weights in
   * place (no new session). Resolves to the switch's duration (null when α was already served).
   */
  setAlpha(alpha: number): Promise<{ alpha: number; ms: number } | null>;
  close(): Promise<void>;
}

export interface RewardModel {
  readonly info: ModelInfo;
  /** Reward of each (prompt, response), rendered with the reward model's chat template. */
  score(pairs: ScorePair[], options?: { batchSize?: number }): Promise<number[]>;
  /** All labels' scores of token sequences, at the last non-padding token. */
  scoreTokenIds(sequences: number[][], options?: { batchSize?: number }): Promise<number[][]>;
  /** The token ids the reward model sees for a pair. */
  encodePair(pair: ScorePair): Promise<number[]>;
  /** Per-token head outputs [seq, num_labels] of a token sequence. */
  logits(tokenIds: number[]): Promise<Logits>;
  close(): Promise<void>;
}

export async function loadCausalLM(dir: string, options: InferenceOptions = {}): Promise<CausalLM> {
  const { inProcess, ...load } = options;
  if (inProcess) {
    const e = await CausalLMEngine.load(dir, load);
    return {
      info: infoOf(e.spec, e.tokenizer),
      generate: (prompts, sampling) => e.generate(prompts, sampling),
      logits: (ids) => e.logits(ids),
      encode: async (p, t) => e.encode(p, t),
      stats: async () => e.lastStats,
      setAlpha: (alpha) => e.setAlpha(alpha),
      close: () => e.close(),
    };
  }
  const client = new WorkerClient();
  const info = (await client.call("load", ["causal", dir, load]).catch(async (err) => {
    await client.terminate();
    throw err;
  })) as ModelInfo;
  return {
    info,
    generate: (prompts, sampling) => client.call("generate", [prompts, sampling ?? {}]) as Promise<Generation[]>,
    logits: (ids) => client.call("logits", [ids]) as Promise<Logits>,
    encode: (p, t) => client.call("encode", [p, t]) as Promise<number[]>,
    stats: () => client.call("stats", []) as Promise<GenerationStats>,
    setAlpha: (alpha) => client.call("setAlpha", [alpha]) as Promise<{ alpha: number; ms: number } | null>,
    close: () => client.close(),
  };
}

export async function loadRewardModel(dir: string, options: InferenceOptions = {}): Promise<RewardModel> {
  const { inProcess, ...load } = options;
  if (inProcess) {
    const e = await RewardEngine.load(dir, load);
    return {
      info: infoOf(e.spec, e.tokenizer),
      score: (pairs, o) => e.score(pairs, o),
      scoreTokenIds: (seqs, o) => e.scoreTokenIds(seqs, o),
      encodePair: async (pair) => e.encodePair(pair),
      logits: (ids) => e.logits(ids),
      close: () => e.close(),
    };
  }
  const client = new WorkerClient();
  const info = (await client.call("load", ["reward", dir, load]).catch(async (err) => {
    await client.terminate();
    throw err;
  })) as ModelInfo;
  return {
    info,
    score: (pairs, o) => client.call("score", [pairs, o ?? {}]) as Promise<number[]>,
    scoreTokenIds: (seqs, o) => client.call("scoreTokenIds", [seqs, o ?? {}]) as Promise<number[][]>,
    encodePair: (pair) => client.call("encodePair", [pair]) as Promise<number[]>,
    logits: (ids) => client.call("logits", [ids]) as Promise<Logits>,
    close: () => client.close(),
  };
}

function infoOf(spec: ArchSpec, tokenizer: { eosIds: number[]; padId: number | null; hasChatTemplate: boolean }): ModelInfo {
  const { invFreq: _unused, ...rest } = spec;
  return { spec: rest, eosIds: tokenizer.eosIds, padId: tokenizer.padId, hasChatTemplate: tokenizer.hasChatTemplate };
}

/** Starts worker.ts (worker.js when compiled) in its own thread. */
function startWorker(): Worker {
  return startModuleWorker(import.meta.url, "worker");
}

class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited: Error | null = null;

  constructor() {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on("message", (msg: WorkerResponse) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.ok) p.resolve(msg.result);
      else {
        const err = msg.error.userError ? new UserError(msg.error.message) : new Error(msg.error.message);
        if (!msg.error.userError && msg.error.stack) err.stack = `${msg.error.stack}\n    (in the inference worker)`;
        p.reject(err);
      }
    });
    const fail = (err: Error) => {
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on("error", (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
    this.worker.on("exit", (code) => fail(new Error(`inference worker exited with code ${code}`)));
  }

  call(op: WorkerRequest["op"], args: unknown[]): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, op, args } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    try {
      await this.call("close", []);
    } finally {
      await this.terminate();
    }
  }

  async terminate(): Promise<void> {
    if (!this.exited) this.exited = new Error("inference worker closed");
    await this.worker.terminate();
  }
}
