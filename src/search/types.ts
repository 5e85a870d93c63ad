/**
 * The small interfaces the α search is written against. Backends (an OpenAI-compatible
 * server, the embedded ONNX engine, an HTTP reward model, a simulation) implement them;
 * the search itself never knows which one it talks to.
 */

/** One prompt of the evaluation set. `id` is stable across runs (it keys the cache). */
export interface Prompt {
  id: string;
  text: string;
}

/** Decoding settings. Defaults are the paper's (appendix: vLLM, top-k 40, p 0.9, T 0.7, penalties 0.1, seed 42). */
export interface Sampling {
  temperature: number;
  topP: number;
  topK: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed: number;
  maxTokens: number;
}

export const PAPER_SAMPLING: Readonly<Sampling> = Object.freeze({
  temperature: 0.7,
  topP: 0.9,
  // The paper's appendix says top-k 40 ("We use top-k (k = 40) and nucleus sampling (p = 0.9)").
  topK: 40,
  presencePenalty: 0.1,
  frequencyPenalty: 0.1,
  seed: 42,
  // The authors' released generation script cuts answers at 2048 tokens; at 1024 the cut bites
  // harder at large α (ExPO lengthens answers), so the reward model would score cut-off answers.
  maxTokens: 2048,
});

/** A model to generate with: the folder a materializer returned for one α. */
export interface ModelRef {
  alpha: number;
  dir: string;
}

export interface Generation {
  text: string;
  /** Answer length in tokens (the backend's own count, e.g. `usage.completion_tokens`). */
  tokens: number;
  /** Why generation stopped: "stop" (end of answer), "length" (cut at maxTokens), or the backend's word; absent when unknown. */
  finishReason?: string;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Called after each finished prompt (for progress). */
  onDone?: (count: number) => void;
}

export interface Generator {
  /** Identifies the backend and its settings for the cache key (e.g. "openai:chat:served-name"). */
  readonly id: string;
  /** Answers `prompts` with the model in `model.dir`, one result per prompt, in order. */
  generate(model: ModelRef, prompts: string[], sampling: Sampling, options?: GenerateOptions): Promise<Generation[]>;
  /** Frees the loaded model/server. */
  close?(): Promise<void>;
}

export interface ScoreItem {
  prompt: string;
  response: string;
}

export interface Scorer {
  /** Identifies the reward model for the cache key. */
  readonly id: string;
  /** One scalar reward per item, in order (higher is better). */
  score(items: ScoreItem[], options?: { signal?: AbortSignal }): Promise<number[]>;
  close?(): Promise<void>;
}

/** A materialized model folder for one α; `release` deletes it when the search no longer needs it. */
export interface MaterializedModel {
  dir: string;
  release?(): Promise<void>;
}

/**
 * Gives the model folder for α: θ1 itself for α = 0, else θ1 + α(θ1 − θ0) written by the
 * extrapolation. Injected, so tests use a fake that needs no weights.
 */
export interface ModelMaterializer {
  materialize(alpha: number): Promise<MaterializedModel>;
}

/** What makes two runs comparable: both model revisions (cache key part). */
export interface ModelRevisions {
  sft: string;
  aligned: string;
}

/** One evaluated (α, prompt) pair. */
export interface Observation {
  promptId: string;
  reward: number;
  tokens: number;
  /** The answer was cut at maxTokens (finish reason "length"); undefined when the backend did not say. */
  truncated?: boolean;
}
