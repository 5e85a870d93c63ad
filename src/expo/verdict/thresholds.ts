/**
 * The numbers the verdict compares against, and the sampling budget. Defaults and the
 * reasoning behind them are in docs/check.md ("Thresholds"); every one can be overridden
 * from a JSON file (`--thresholds FILE`) or a flag.
 */
import { UserError } from "../../util/errors.js";

export interface Thresholds {
  /** Above this relative distance ‖θ1−θ0‖/‖θ0‖ (overall or any decisive tensor): warn. Fine-tuning moves weights 1e-3–5e-2. */
  warnRelativeDistance: number;
  /** Above this: refuse. Independently initialised tensors of equal scale sit at √2 ≈ 1.41. */
  refuseRelativeDistance: number;
  /** Below this cosine similarity: warn. Fine-tuning keeps cosine > 0.999 (cos ≈ 1 − r²/2). */
  warnCosine: number;
  /** Below this: refuse. Independent tensors have cosine ≈ 0 ± 1/√n. */
  refuseCosine: number;
  /** Overall relative distance at or below this: θ1 is θ0 (nothing to extrapolate): refuse. */
  identicalRelativeDistance: number;
  /** Overall relative distance below this: warn that θ1 barely moved (the α search will need large α). */
  tinyRelativeDistance: number;
  /** Sampled tensor bytes per model, as a fraction of that checkpoint's tensor bytes. */
  sampleFraction: number;
  /** …but at least this many bytes per model (tiny models) … */
  minSampleBytes: number;
  /** …and at most this many (huge models need no more for a precise cosine). */
  maxSampleBytes: number;
  /** How many tensors to sample (one range read each, per model). */
  maxSampledTensors: number;
  /** At most this many sampled ranges from any one shard. */
  maxSamplesPerShard: number;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({
  warnRelativeDistance: 0.1,
  refuseRelativeDistance: 0.5,
  warnCosine: 0.99,
  refuseCosine: 0.9,
  identicalRelativeDistance: 0,
  tinyRelativeDistance: 1e-4,
  sampleFraction: 0.0005,
  minSampleBytes: 16 * 1024,
  maxSampleBytes: 4 * 1024 * 1024,
  maxSampledTensors: 12,
  maxSamplesPerShard: 8,
});

const KEYS = Object.keys(DEFAULT_THRESHOLDS) as (keyof Thresholds)[];
const INTEGER_KEYS = new Set<keyof Thresholds>(["minSampleBytes", "maxSampleBytes", "maxSampledTensors", "maxSamplesPerShard"]);

/** Flag spelling of a key: warnRelativeDistance → warn-relative-distance. */
export function flagName(key: keyof Thresholds): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export const THRESHOLD_KEYS: readonly (keyof Thresholds)[] = KEYS;

/** Defaults overridden by `overrides`, validated (types, ranges, order of warn/refuse). */
export function resolveThresholds(overrides: Partial<Record<keyof Thresholds, unknown>> = {}, source = "thresholds"): Thresholds {
  const out: Thresholds = { ...DEFAULT_THRESHOLDS };
  for (const [key, raw] of Object.entries(overrides)) {
    if (raw === undefined) continue;
    if (!(KEYS as string[]).includes(key)) throw new UserError(`${source}: unknown threshold "${key}" (known: ${KEYS.join(", ")})`);
    const k = key as keyof Thresholds;
    const v = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new UserError(`${source}: "${key}" must be a non-negative number, got ${JSON.stringify(raw)}`);
    if (INTEGER_KEYS.has(k) && !Number.isSafeInteger(v)) throw new UserError(`${source}: "${key}" must be an integer, got ${JSON.stringify(raw)}`);
    out[k] = v;
  }
  const fail = (msg: string) => {
    throw new UserError(`${source}: ${msg}`);
  };
  if (out.warnRelativeDistance > out.refuseRelativeDistance) fail(`warnRelativeDistance (${out.warnRelativeDistance}) must not exceed refuseRelativeDistance (${out.refuseRelativeDistance})`);
  if (out.warnCosine > 1 || out.refuseCosine > 1) fail("cosine thresholds must be at most 1");
  if (out.refuseCosine > out.warnCosine) fail(`refuseCosine (${out.refuseCosine}) must not exceed warnCosine (${out.warnCosine})`);
  if (out.sampleFraction > 1) fail("sampleFraction must be at most 1");
  if (out.minSampleBytes > out.maxSampleBytes) fail(`minSampleBytes (${out.minSampleBytes}) must not exceed maxSampleBytes (${out.maxSampleBytes})`);
  if (out.maxSampledTensors < 1 || out.maxSamplesPerShard < 1) fail("maxSampledTensors and maxSamplesPerShard must be at least 1");
  return out;
}

/** Parses a thresholds JSON file's text: an object of the keys above (any subset). */
export function parseThresholdsJson(text: string, source: string): Partial<Record<keyof Thresholds, unknown>> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${source}: expected a JSON object of thresholds`);
  return raw as Partial<Record<keyof Thresholds, unknown>>;
}
