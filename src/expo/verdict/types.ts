/**
 * The mode-connectivity verdict: what `checkPair` returns and what `expo-bot check --json`
 * prints. Versioned (`schema`) because the bot stores it in the ledger and results.json.
 */
import type { Thresholds } from "./thresholds.js";
import type { AdapterCheck } from "./adapter.js";

export type VerdictLevel = "pass" | "warn" | "refuse";
/** A reason's level: `info` explains a passed check, `warn` and `refuse` set the verdict. */
export type ReasonLevel = "info" | "warn" | "refuse";

export interface Reason {
  level: ReasonLevel;
  /** Stable identifier, e.g. `weights-unrelated`, `tokenizer-reordered`; see docs/check.md. */
  code: string;
  /** One or two plain sentences a model author understands, numbers included. */
  message: string;
  /** The numbers behind the message, for machines. */
  numbers?: Record<string, number | string | boolean | null>;
}

export interface ModelSummary {
  /** What the user gave: a folder path or `owner/name[@revision]`. */
  ref: string;
  kind: "local" | "hub";
  /** Hub id, or the id given for a local folder (`--sft-id`/`--aligned-id`), if any. */
  id: string | null;
  revision: string | null;
  /** Commit sha the Hub resolved the revision to (Hub only). */
  sha: string | null;
  shards: number;
  tensors: number;
  parameters: number;
  /** Bytes of tensor data over all shards (what the 0.1 % budget is measured against). */
  dataBytes: number;
}

export interface TensorStat {
  name: string;
  /** attention | mlp | norm | embedding | head | bias | other */
  kind: TensorKind;
  /** Layer index parsed from the name, or null for embeddings, final norm, head. */
  layer: number | null;
  dtype: { sft: string; aligned: string };
  shape: { sft: number[]; aligned: number[] };
  /** First element compared and how many (a contiguous, row-aligned block). */
  offset: number;
  elements: number;
  /** ‖θ1 − θ0‖ / ‖θ0‖ on the sample. */
  relativeDistance: number;
  /** θ0·θ1 / (‖θ0‖‖θ1‖) on the sample. */
  cosine: number;
  /** RMS of each sample, to tell a rescaled tensor from a rotated one. */
  rms: { sft: number; aligned: number };
  /** Values bit-identical at equal offsets in θ0 and θ1 (of `elements`). */
  identical?: number;
  /** Whether this tensor counts towards the weight verdict (matrices do; norm gains and biases look alike in any two models). */
  decisive: boolean;
}

export type TensorKind = "attention" | "mlp" | "norm" | "embedding" | "head" | "bias" | "other";

export interface UsageCounts {
  bytes: number;
  requests: number;
}

export interface ModelUsage extends UsageCounts {
  /** Small files: config, tokenizer, card. */
  files: UsageCounts;
  /** safetensors headers (length prefix + JSON), one or two reads per shard. */
  headers: UsageCounts;
  /** Sampled tensor ranges. */
  samples: UsageCounts;
  /** Bytes read / this checkpoint's tensor bytes. */
  fraction: number;
  /** HTTP requests the Hub client actually sent (retries and metadata calls included), when known. */
  httpRequests: number | null;
}

export interface Usage extends UsageCounts {
  sft: ModelUsage;
  aligned: ModelUsage;
  /** Both models' bytes read / both checkpoints' tensor bytes. */
  fraction: number;
}

export interface Lineage {
  /** confirmed: θ1's card names θ0; mismatch: it names something else; unknown: it names nothing usable, or θ0 has no id. */
  status: "confirmed" | "mismatch" | "unknown";
  via: "base_model" | "expo-parent" | null;
  /** What θ1's card names as its parent(s). */
  named: string[];
}

export interface Verdict {
  schema: "expo-bot/verdict@1";
  verdict: VerdictLevel;
  sft: ModelSummary;
  aligned: ModelSummary;
  /** Every check's outcome, refusals first, then warnings, then passed checks. */
  reasons: Reason[];
  lineage: Lineage;
  tensors: TensorStat[];
  /** Aggregated over the decisive sampled tensors; null when none could be compared. */
  overall: { relativeDistance: number; cosine: number; tensors: number; elements: number; identicalShare?: number | null } | null;
  /** Child or sibling (sibling.ts): the base θ0 and θ1 were compared against, and what was found; absent when no base was known. */
  sibling?: { base: string; share: number | null; cosine: number | null; error: string | null };
  usage: Usage;
  thresholds: Thresholds;
  durationMs: number;
  /** Set when θ1 is a PEFT LoRA adapter (./adapter.ts). */
  adapter?: AdapterCheck;
}

export function verdictOf(reasons: readonly Reason[]): VerdictLevel {
  if (reasons.some((r) => r.level === "refuse")) return "refuse";
  if (reasons.some((r) => r.level === "warn")) return "warn";
  return "pass";
}

const ORDER: Record<ReasonLevel, number> = { refuse: 0, warn: 1, info: 2 };
export function sortReasons(reasons: Reason[]): Reason[] {
  return reasons.map((r, i) => [r, i] as const).sort((a, b) => ORDER[a[0].level] - ORDER[b[0].level] || a[1] - b[1]).map(([r]) => r);
}
