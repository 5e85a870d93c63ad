/**
 * `search.json`: the α search's result, read by the publisher (model card) and the bot
 * (comments). Versioned; `validateSearchReport` checks an untrusted file against this type.
 */
import type { Sampling } from "./types.js";

export const SEARCH_REPORT_SCHEMA = "expo-bot/search";
/**
 * 2 added: `prompts.heldOut`, `alphas[].truncated`, `vsBaseline.lengthControlled`/`lengthSlope`,
 * `decision.reported` (the gain measured on held-out prompts), `decision.blocked`, `sanity.passed`.
 * Version 1 files still validate (those fields are optional).
 */
export const SEARCH_REPORT_VERSION = 2;
export const SEARCH_REPORT_VERSIONS_READ: readonly number[] = [1, 2];

export interface IntervalJson {
  mean: number;
  /** Lower/upper bound; null when too few prompts to compute one. */
  lo: number | null;
  hi: number | null;
}

export type AlphaRole = "baseline" | "candidate" | "sanity";
export type AlphaStatus = "baseline" | "finalist" | "dropped" | "sanity";

export interface AlphaReport {
  alpha: number;
  role: AlphaRole;
  status: AlphaStatus;
  /** Why and when it left the race (auto strategy). */
  dropped?: { atPrompts: number; reason: string };
  /** Prompts evaluated: the first `n` of `prompts.ids`. */
  n: number;
  /** Per-prompt rewards and answer lengths (tokens), aligned with `prompts.ids`. */
  rewards: number[];
  tokens: number[];
  /** Mean reward with a t interval at `statistics.level`. */
  reward: IntervalJson;
  meanTokens: number;
  /** Paired comparison with α = 0 on the prompts both have (absent for α = 0 itself). */
  vsBaseline?: {
    n: number;
    /** Mean reward difference, bootstrap interval at `statistics.level`. */
    gain: IntervalJson;
    /** Same, at the Bonferroni-adjusted level the decision uses. */
    gainAdjusted: IntervalJson;
    /** Fraction of prompts where this α's answer scores higher (ties ½). */
    winRate: number;
    /** mean tokens(α) / mean tokens(0) on the shared prompts. */
    lengthRatio: number;
    /** gainAdjusted.lo > 0, the t interval at the same level agrees, and n ≥ 10. */
    significant: boolean;
    /** Significant gain that comes with lengthRatio > 1 + statistics.lengthGuard. */
    lengthFlag: boolean;
    /** Gain at equal length (see ReportedGain.lengthControlled), at `statistics.level`. */
    lengthControlled?: IntervalJson;
    /** Fitted reward per unit of ln(length ratio). */
    lengthSlope?: number;
  };
  /** Pearson correlation of reward and length across this α's prompts. */
  rewardLengthCorrelation: number | null;
  /** Share of this α's answers cut at `sampling.maxTokens` (finish reason "length"); null when the backend did not say. */
  truncated?: number | null;
}

/**
 * The chosen α's gain as the card and comments show it: measured on held-out prompts that
 * played no part in choosing α (`source: "held-out"`), or on every prompt when nothing was
 * selected (one pinned α: `source: "all-prompts"`), so selection did not inflate it.
 */
export interface ReportedGain {
  source: "held-out" | "all-prompts";
  n: number;
  /** Mean reward difference with its interval at `statistics.level` (the union of the bootstrap and t intervals; not adjusted: one α, chosen beforehand). */
  gain: IntervalJson;
  winRate: number;
  lengthRatio: number;
  /** Gain at equal length (intercept of the per-prompt difference on ln length ratio), t interval. */
  lengthControlled: IntervalJson;
  /** lengthControlled.lo > 0. */
  lengthControlledSignificant: boolean;
  /** Share of answers cut at maxTokens, at the chosen α and at α = 0 (null when unknown). */
  truncated: { alpha: number | null; baseline: number | null };
}

export type Decision =
  | {
      kind: "alpha";
      alpha: number;
      /** The gain on the selection prompts at the adjusted level (what the decision rests on; inflated by the selection). */
      gain: IntervalJson;
      winRate: number;
      lengthRatio: number;
      lengthFlag: boolean;
      reason: string;
      /** The gain to publish: unbiased by the selection (v2). */
      reported?: ReportedGain;
    }
  | {
      kind: "no-gain";
      reason: string;
      /** An α that beat α = 0 but was not published, and why (v2). */
      blocked?: { alpha: number; by: "sanity" };
    };

export interface SearchReport {
  schema: typeof SEARCH_REPORT_SCHEMA;
  version: number;
  createdAt: string;
  models: {
    sft: { path: string; revision: string };
    aligned: { path: string; revision: string };
  };
  generator: string;
  scorer: string;
  sampling: Sampling;
  /** `heldOut`: how many of the last `ids` were kept out of the selection (0 or absent: none). */
  prompts: { source: string; seed: number; ids: string[]; heldOut?: number };
  strategy: {
    name: "grid" | "auto";
    options: Record<string, unknown>;
    rounds: { phase: string; prompts: number; alphas: number[]; leader?: number; note?: string }[];
  };
  /**
   * modelLoads: α folders materialized (extrapolations; α = 0 is θ1 itself and counts too);
   * modelSwitches: times generation moved to another model (server reloads/restarts).
   */
  cost: { generations: number; cachedGenerations: number; scored: number; modelLoads: number; modelSwitches?: number; seconds: number };
  statistics: {
    level: number;
    bootstrapResamples: number;
    bootstrapSeed: number;
    /** Candidates the decision is corrected for (every α > 0 evaluated, dropped ones included). */
    comparisons: number;
    adjustedLevel: number;
    lengthGuard: number;
    /** Reward–length correlation over every evaluated answer. */
    rewardLengthCorrelation: number | null;
  };
  /** Ascending α; α = 0 always present; α = −0.5 when the sanity check ran. */
  alphas: AlphaReport[];
  /** The interpolation sanity check (paper Fig. 1): α = −0.5 is expected to fall between θ0 and θ1. */
  sanity?: {
    alpha: number;
    n: number;
    gain: IntervalJson;
    note: string;
    /** False when θ1 − 0.5Δ scored at least as well as θ1 (mean gain ≥ 0): publication stops (v2). */
    passed?: boolean;
  };
  /** Per-prompt results of the held-out prompts (the last `prompts.heldOut` ids), for α = 0 and the chosen α (v2). */
  heldOut?: { alpha: number; rewards: number[]; tokens: number[] }[];
  decision: Decision;
  /** Things the reader should know (e.g. a skipped sanity check). */
  notes?: string[];
  /** True when θ1's config marks it as a synthetic test model (`_synthetic`): plots say so. */
  synthetic?: boolean;
}

/** Checks that `value` is a SearchReport of this version; throws an Error naming the first bad field. */
export function validateSearchReport(value: unknown): SearchReport {
  const fail = (path: string, what: string): never => {
    throw new Error(`search.json: ${path} ${what}`);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "must be an object");
    return v as Record<string, unknown>;
  };
  const num = (v: unknown, path: string, nullable = false): void => {
    if (nullable && v === null) return;
    if (typeof v !== "number" || !Number.isFinite(v)) fail(path, `must be a finite number${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
  };
  const str = (v: unknown, path: string): void => {
    if (typeof v !== "string") fail(path, "must be a string");
  };
  const bool = (v: unknown, path: string): void => {
    if (typeof v !== "boolean") fail(path, "must be a boolean");
  };
  const arr = (v: unknown, path: string): unknown[] => {
    if (!Array.isArray(v)) fail(path, "must be an array");
    return v as unknown[];
  };
  const interval = (v: unknown, path: string): void => {
    const o = obj(v, path);
    num(o.mean, `${path}.mean`);
    num(o.lo, `${path}.lo`, true);
    num(o.hi, `${path}.hi`, true);
  };

  const r = obj(value, "(root)");
  if (r.schema !== SEARCH_REPORT_SCHEMA) fail("schema", `must be "${SEARCH_REPORT_SCHEMA}", got ${JSON.stringify(r.schema)}`);
  if (!SEARCH_REPORT_VERSIONS_READ.includes(r.version as number)) fail("version", `must be one of ${SEARCH_REPORT_VERSIONS_READ.join(", ")}, got ${JSON.stringify(r.version)}`);
  str(r.createdAt, "createdAt");
  const models = obj(r.models, "models");
  for (const m of ["sft", "aligned"]) {
    const o = obj(models[m], `models.${m}`);
    str(o.path, `models.${m}.path`);
    str(o.revision, `models.${m}.revision`);
  }
  str(r.generator, "generator");
  str(r.scorer, "scorer");
  const sampling = obj(r.sampling, "sampling");
  for (const f of ["temperature", "topP", "topK", "presencePenalty", "frequencyPenalty", "seed", "maxTokens"]) num(sampling[f], `sampling.${f}`);
  const prompts = obj(r.prompts, "prompts");
  str(prompts.source, "prompts.source");
  num(prompts.seed, "prompts.seed");
  const ids = arr(prompts.ids, "prompts.ids");
  ids.forEach((id, i) => str(id, `prompts.ids[${i}]`));
  if (prompts.heldOut !== undefined) num(prompts.heldOut, "prompts.heldOut");
  const strategy = obj(r.strategy, "strategy");
  if (strategy.name !== "grid" && strategy.name !== "auto") fail("strategy.name", `must be "grid" or "auto"`);
  obj(strategy.options, "strategy.options");
  arr(strategy.rounds, "strategy.rounds").forEach((x, i) => {
    const o = obj(x, `strategy.rounds[${i}]`);
    str(o.phase, `strategy.rounds[${i}].phase`);
    num(o.prompts, `strategy.rounds[${i}].prompts`);
    arr(o.alphas, `strategy.rounds[${i}].alphas`).forEach((a, j) => num(a, `strategy.rounds[${i}].alphas[${j}]`));
  });
  const cost = obj(r.cost, "cost");
  for (const f of ["generations", "cachedGenerations", "scored", "modelLoads", "seconds"]) num(cost[f], `cost.${f}`);
  if (cost.modelSwitches !== undefined) num(cost.modelSwitches, "cost.modelSwitches");
  const st = obj(r.statistics, "statistics");
  for (const f of ["level", "bootstrapResamples", "bootstrapSeed", "comparisons", "adjustedLevel", "lengthGuard"]) num(st[f], `statistics.${f}`);
  num(st.rewardLengthCorrelation, "statistics.rewardLengthCorrelation", true);
  const alphas = arr(r.alphas, "alphas");
  let sawBaseline = false;
  alphas.forEach((x, i) => {
    const p = `alphas[${i}]`;
    const a = obj(x, p);
    num(a.alpha, `${p}.alpha`);
    if (!["baseline", "candidate", "sanity"].includes(a.role as string)) fail(`${p}.role`, "must be baseline, candidate or sanity");
    if (!["baseline", "finalist", "dropped", "sanity"].includes(a.status as string)) fail(`${p}.status`, "must be baseline, finalist, dropped or sanity");
    if (a.alpha === 0) sawBaseline = true;
    num(a.n, `${p}.n`);
    const rewards = arr(a.rewards, `${p}.rewards`);
    const tokens = arr(a.tokens, `${p}.tokens`);
    if (rewards.length !== a.n || tokens.length !== a.n) fail(p, `has n=${a.n} but ${rewards.length} rewards and ${tokens.length} token counts`);
    if ((a.n as number) > ids.length) fail(`${p}.n`, `exceeds the ${ids.length} prompts`);
    rewards.forEach((v, j) => num(v, `${p}.rewards[${j}]`));
    tokens.forEach((v, j) => num(v, `${p}.tokens[${j}]`));
    interval(a.reward, `${p}.reward`);
    num(a.meanTokens, `${p}.meanTokens`);
    num(a.rewardLengthCorrelation, `${p}.rewardLengthCorrelation`, true);
    if (a.truncated !== undefined) num(a.truncated, `${p}.truncated`, true);
    if (a.dropped !== undefined) {
      const d = obj(a.dropped, `${p}.dropped`);
      num(d.atPrompts, `${p}.dropped.atPrompts`);
      str(d.reason, `${p}.dropped.reason`);
    }
    if (a.vsBaseline !== undefined) {
      const v = obj(a.vsBaseline, `${p}.vsBaseline`);
      num(v.n, `${p}.vsBaseline.n`);
      interval(v.gain, `${p}.vsBaseline.gain`);
      interval(v.gainAdjusted, `${p}.vsBaseline.gainAdjusted`);
      num(v.winRate, `${p}.vsBaseline.winRate`);
      num(v.lengthRatio, `${p}.vsBaseline.lengthRatio`);
      bool(v.significant, `${p}.vsBaseline.significant`);
      bool(v.lengthFlag, `${p}.vsBaseline.lengthFlag`);
      if (v.lengthControlled !== undefined) interval(v.lengthControlled, `${p}.vsBaseline.lengthControlled`);
      if (v.lengthSlope !== undefined) num(v.lengthSlope, `${p}.vsBaseline.lengthSlope`);
    }
  });
  if (!sawBaseline) fail("alphas", "must include α = 0");
  if (r.sanity !== undefined) {
    const s = obj(r.sanity, "sanity");
    num(s.alpha, "sanity.alpha");
    num(s.n, "sanity.n");
    interval(s.gain, "sanity.gain");
    str(s.note, "sanity.note");
    if (s.passed !== undefined) bool(s.passed, "sanity.passed");
  }
  if (r.heldOut !== undefined) {
    arr(r.heldOut, "heldOut").forEach((x, i) => {
      const h = obj(x, `heldOut[${i}]`);
      num(h.alpha, `heldOut[${i}].alpha`);
      arr(h.rewards, `heldOut[${i}].rewards`).forEach((v, j) => num(v, `heldOut[${i}].rewards[${j}]`));
      arr(h.tokens, `heldOut[${i}].tokens`).forEach((v, j) => num(v, `heldOut[${i}].tokens[${j}]`));
    });
  }
  const d = obj(r.decision, "decision");
  if (d.kind === "alpha") {
    num(d.alpha, "decision.alpha");
    interval(d.gain, "decision.gain");
    num(d.winRate, "decision.winRate");
    num(d.lengthRatio, "decision.lengthRatio");
    bool(d.lengthFlag, "decision.lengthFlag");
    if (d.reported !== undefined) {
      const g = obj(d.reported, "decision.reported");
      if (g.source !== "held-out" && g.source !== "all-prompts") fail("decision.reported.source", `must be "held-out" or "all-prompts"`);
      num(g.n, "decision.reported.n");
      interval(g.gain, "decision.reported.gain");
      num(g.winRate, "decision.reported.winRate");
      num(g.lengthRatio, "decision.reported.lengthRatio");
      interval(g.lengthControlled, "decision.reported.lengthControlled");
      bool(g.lengthControlledSignificant, "decision.reported.lengthControlledSignificant");
      const t = obj(g.truncated, "decision.reported.truncated");
      num(t.alpha, "decision.reported.truncated.alpha", true);
      num(t.baseline, "decision.reported.truncated.baseline", true);
    }
  } else if (d.kind !== "no-gain") fail("decision.kind", `must be "alpha" or "no-gain"`);
  str(d.reason, "decision.reason");
  if (r.notes !== undefined) arr(r.notes, "notes").forEach((n, i) => str(n, `notes[${i}]`));
  if (r.synthetic !== undefined) bool(r.synthetic, "synthetic");
  return value as SearchReport;
}

/** One row per α ≥ 0 in the shape results.json and the card tables use (α = 0: delta 0, ci [0, 0]). */
export interface AlphaSummaryRow {
  alpha: number;
  reward: number;
  delta: number;
  ci: [number, number];
  winRate: number;
  meanLength: number;
  n: number;
  dropped: boolean;
  lengthFlag: boolean;
  /** Share of answers cut at maxTokens; null when unknown. */
  truncated: number | null;
}

export function alphaSummaryRows(report: SearchReport): AlphaSummaryRow[] {
  return report.alphas
    .filter((a) => a.role !== "sanity" && a.alpha >= 0)
    .map((a) => {
      const v = a.vsBaseline;
      return {
        alpha: a.alpha,
        reward: a.reward.mean,
        delta: v ? v.gain.mean : 0,
        ci: v ? [v.gain.lo ?? v.gain.mean, v.gain.hi ?? v.gain.mean] : [0, 0],
        winRate: v ? v.winRate : 0.5,
        meanLength: a.meanTokens,
        n: v ? v.n : a.n,
        dropped: a.status === "dropped",
        lengthFlag: v?.lengthFlag ?? false,
        truncated: a.truncated ?? null,
      };
    });
}
