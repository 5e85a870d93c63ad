/**
 * `results.json`: what one runner job reports back to the bot (the workflow uploads it as the
 * `results` artifact). Versioned by `schema`; a reader accepts exactly the versions it knows
 * and says which field is wrong otherwise, so a job and a bot of different ages fail loudly
 * rather than misreport.
 *
 * Producers (the job) build a `ExpoResults` and `JSON.stringify` it; consumers (the bot) call
 * `parseResults` on untrusted text.
 */

export const RESULTS_SCHEMA_V1 = "expo-bot/results@1" as const;
/** v2 adds `alphas[].truncated`/`dropped`, `reported`, `sanity`, `reason` and `notes` (results.ts). */
export const RESULTS_SCHEMA_V2 = "expo-bot/results@2" as const;
export const RESULTS_SCHEMAS: readonly string[] = [RESULTS_SCHEMA_V1, RESULTS_SCHEMA_V2];

export type ResultsOutcome = "published" | "no-gain" | "failed";

export interface SourceRevision {
  /** `owner/name` on the Hub. */
  repo: string;
  /** The full commit sha that was read. */
  sha: string;
}

export interface AlphaStatistics {
  alpha: number;
  /** Mean reward-model score of the answers generated at this α. */
  reward: number;
  /** Mean paired difference against α = 0 (the original θ1). */
  delta: number;
  /** Confidence interval of `delta`, [low, high]. */
  ci: [number, number];
  /** Share of prompts where this α beat α = 0 (ties count half), 0..1. */
  winRate: number;
  /** Mean answer length in tokens (large α amplifies length: report it). */
  meanLength: number;
  /** Number of prompts scored. */
  n: number;
  /** Share of answers cut at the token limit (v2; null when the generator did not say). */
  truncated?: number | null;
  /** Left the race early (v2). */
  dropped?: boolean;
}

/** The chosen α's gain as published: measured on prompts that did not choose it (v2). */
export interface ResultsReportedGain {
  source: "held-out" | "all-prompts";
  n: number;
  delta: number;
  ci: [number, number] | null;
  winRate: number;
  lengthRatio: number;
  lengthControlled: number;
  lengthControlledCi: [number, number] | null;
  lengthControlledSignificant: boolean;
}

export interface ExpoResults {
  schema: typeof RESULTS_SCHEMA_V1 | typeof RESULTS_SCHEMA_V2;
  /** The bot's request id (the workflow's `request_id` input). */
  requestId: string;
  theta1: SourceRevision;
  theta0: SourceRevision;
  /** α pinned by the request (`expo-alpha:`), or null when it was searched. */
  pinnedAlpha: number | null;
  /** The full check's verdict on the runner. */
  verdict: { verdict: "pass" | "warn" | "refuse"; reasons: string[] };
  /** Per-α statistics, in the order evaluated; empty when the job stopped before the search. */
  alphas: AlphaStatistics[];
  /** The α that was chosen, or null when none beat α = 0 with confidence. */
  chosenAlpha: number | null;
  outcome: ResultsOutcome;
  /** The published model, when `outcome` is `published`. */
  published: { repo: string; commit: string; url: string } | null;
  /** A URL (or repo-relative path in `published.repo`) of the reward-vs-α plot, if any. */
  plot: string | null;
  /** Seconds spent per step (download, check, extrapolate, search, publish, …). */
  timings: Record<string, number>;
  /** Bytes moved: downloaded from and uploaded to the Hub. */
  bytes: { downloaded: number; uploaded: number };
  /** When `outcome` is `failed`: the step and a message with no secrets in it. */
  error: { step: string; message: string } | null;
  /** v2: the published gain (held-out), the α = −0.5 sanity check, the search's reason and notes. */
  reported?: ResultsReportedGain | null;
  sanity?: { alpha: number; n: number; delta: number; ci: [number, number] | null; passed: boolean; note: string } | null;
  reason?: string | null;
  notes?: string[];
}

export class ResultsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResultsError";
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

const REPO_RE = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
const SHA_RE = /^[0-9a-f]{40}$/;

/** Validates a parsed value; returns the list of problems (empty when valid). */
export function validateResults(value: unknown): string[] {
  const errors: string[] = [];
  const need = (cond: boolean, msg: string): void => {
    if (!cond) errors.push(msg);
  };
  if (!isObj(value)) return ["results.json: not a JSON object"];
  if (!RESULTS_SCHEMAS.includes(value.schema as string)) {
    return [`results.json: schema is ${JSON.stringify(value.schema)}, expected one of ${RESULTS_SCHEMAS.map((x) => `"${x}"`).join(", ")}`];
  }
  need(typeof value.requestId === "string" && value.requestId.length > 0, "requestId: expected a non-empty string");
  for (const side of ["theta1", "theta0"] as const) {
    const s = value[side];
    if (!isObj(s)) {
      errors.push(`${side}: expected {repo, sha}`);
      continue;
    }
    need(typeof s.repo === "string" && REPO_RE.test(s.repo), `${side}.repo: expected owner/name`);
    need(typeof s.sha === "string" && SHA_RE.test(s.sha), `${side}.sha: expected a 40-hex commit sha`);
  }
  need(value.pinnedAlpha === null || (isFiniteNumber(value.pinnedAlpha) && value.pinnedAlpha >= 0), "pinnedAlpha: expected null or a number ≥ 0");
  const v = value.verdict;
  need(
    isObj(v) && ["pass", "warn", "refuse"].includes(v.verdict as string) && Array.isArray(v.reasons) && v.reasons.every((r) => typeof r === "string"),
    "verdict: expected {verdict: pass|warn|refuse, reasons: string[]}",
  );
  if (!Array.isArray(value.alphas)) errors.push("alphas: expected an array");
  else
    value.alphas.forEach((a, i) => {
      if (!isObj(a)) return errors.push(`alphas[${i}]: expected an object`);
      for (const k of ["alpha", "reward", "delta", "winRate", "meanLength", "n"]) need(isFiniteNumber(a[k]), `alphas[${i}].${k}: expected a finite number`);
      need(Array.isArray(a.ci) && a.ci.length === 2 && a.ci.every(isFiniteNumber), `alphas[${i}].ci: expected [low, high]`);
      if (isFiniteNumber(a.winRate)) need(a.winRate >= 0 && a.winRate <= 1, `alphas[${i}].winRate: expected 0..1`);
      if (a.truncated !== undefined) need(a.truncated === null || (isFiniteNumber(a.truncated) && a.truncated >= 0 && a.truncated <= 1), `alphas[${i}].truncated: expected null or 0..1`);
      if (a.dropped !== undefined) need(typeof a.dropped === "boolean", `alphas[${i}].dropped: expected a boolean`);
    });
  const pair = (v: unknown) => v === null || (Array.isArray(v) && v.length === 2 && v.every(isFiniteNumber));
  if (value.reported !== undefined && value.reported !== null) {
    const g = value.reported;
    need(
      isObj(g) && (g.source === "held-out" || g.source === "all-prompts") && ["n", "delta", "winRate", "lengthRatio", "lengthControlled"].every((k) => isFiniteNumber(g[k])) && pair(g.ci) && pair(g.lengthControlledCi) && typeof g.lengthControlledSignificant === "boolean",
      "reported: expected {source, n, delta, ci, winRate, lengthRatio, lengthControlled, lengthControlledCi, lengthControlledSignificant}",
    );
  }
  if (value.sanity !== undefined && value.sanity !== null) {
    const g = value.sanity;
    need(isObj(g) && ["alpha", "n", "delta"].every((k) => isFiniteNumber(g[k])) && pair(g.ci) && typeof g.passed === "boolean" && typeof g.note === "string", "sanity: expected {alpha, n, delta, ci, passed, note}");
  }
  need(value.reason === undefined || value.reason === null || typeof value.reason === "string", "reason: expected a string or null");
  need(value.notes === undefined || (Array.isArray(value.notes) && value.notes.every((n) => typeof n === "string")), "notes: expected string[]");
  need(value.chosenAlpha === null || isFiniteNumber(value.chosenAlpha), "chosenAlpha: expected null or a number");
  need(["published", "no-gain", "failed"].includes(value.outcome as string), "outcome: expected published | no-gain | failed");
  const p = value.published;
  if (value.outcome === "published") {
    need(
      isObj(p) && typeof p.repo === "string" && REPO_RE.test(p.repo) && typeof p.commit === "string" && p.commit.length > 0 && typeof p.url === "string",
      "published: expected {repo, commit, url} when outcome is published",
    );
    need(isFiniteNumber(value.chosenAlpha), "chosenAlpha: expected a number when outcome is published");
  } else need(p === null || p === undefined, "published: expected null unless outcome is published");
  need(value.plot === null || value.plot === undefined || typeof value.plot === "string", "plot: expected a string or null");
  need(isObj(value.timings) && Object.values(value.timings).every(isFiniteNumber), "timings: expected {step: seconds}");
  need(isObj(value.bytes) && isFiniteNumber(value.bytes.downloaded) && isFiniteNumber(value.bytes.uploaded), "bytes: expected {downloaded, uploaded}");
  if (value.outcome === "failed") {
    const e = value.error;
    need(isObj(e) && typeof e.step === "string" && typeof e.message === "string", "error: expected {step, message} when outcome is failed");
  }
  return errors;
}

/** Parses and validates untrusted `results.json` text; throws ResultsError naming every problem. */
export function parseResults(text: string): ExpoResults {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ResultsError(`results.json: not valid JSON (${(err as Error).message})`);
  }
  const errors = validateResults(value);
  if (errors.length > 0) throw new ResultsError(`results.json is invalid:\n  ${errors.join("\n  ")}`);
  const r = value as ExpoResults;
  return { ...r, plot: r.plot ?? null, published: r.published ?? null, error: r.error ?? null };
}
