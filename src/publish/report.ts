/**
 * Reads the α search's `search.json` into the `SearchSummary` the card and comments use.
 *
 * The reader is deliberately tolerant of field names (`meanReward`/`reward`, `deltaCi`/`ci`,
 * `chosenAlpha`/`chosen`) so the publish stage does not break on additive changes to the
 * search's schema; it is strict about values: every number must be finite and every
 * interval a pair, and the message names the file and the field.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { UserError } from "../util/errors.js";
import type { SearchReport } from "../search/schema.js";
import type { AlphaRow, SearchSummary } from "./types.js";

export const PLOT_SVG = "alpha-curve.svg";
export const PLOT_PNG = "alpha-curve.png";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pick(obj: Json, names: string[]): unknown {
  for (const name of names) if (obj[name] !== undefined) return obj[name];
  return undefined;
}

class Fields {
  constructor(readonly file: string) {}
  fail(field: string, what: string): never {
    throw new UserError(`${this.file}: field ${field} ${what}`);
  }
  number(obj: Json, names: string[], field: string, required: true): number;
  number(obj: Json, names: string[], field: string, required: false): number | undefined;
  number(obj: Json, names: string[], field: string, required: boolean): number | undefined {
    const value = pick(obj, names);
    if (value === undefined || value === null) {
      if (required) this.fail(field, `is missing (expected a number; also read as ${names.join(", ")})`);
      return undefined;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) this.fail(field, `is ${JSON.stringify(value)}, expected a finite number`);
    return value;
  }
  interval(obj: Json, names: string[], field: string): [number, number] | undefined {
    const value = pick(obj, names);
    if (value === undefined || value === null) return undefined;
    let pair: unknown[] | undefined;
    if (Array.isArray(value)) pair = value;
    else if (isObject(value)) pair = [pick(value, ["low", "lo", "lower"]), pick(value, ["high", "hi", "upper"])];
    if (!pair || pair.length !== 2 || !pair.every((v) => typeof v === "number" && Number.isFinite(v))) {
      this.fail(field, `is ${JSON.stringify(value)}, expected [low, high]`);
    }
    return [pair[0] as number, pair[1] as number];
  }
}

/** The search's own schema (src/search/schema.ts, `schema: "expo-bot/search"`). */
function isSearchReport(value: unknown): value is SearchReport {
  return isObject(value) && value.schema === "expo-bot/search";
}

function interval(i: { lo: number | null; hi: number | null } | undefined): [number, number] | undefined {
  return i && i.lo !== null && i.hi !== null ? [i.lo, i.hi] : undefined;
}

/** Maps the search's report (already in its own schema) to the summary; α < 0 (the sanity check) is left out of the table. */
export function summarizeSearchReport(report: SearchReport, file = "search.json"): SearchSummary {
  const f: Fields = new Fields(file);
  if (!Array.isArray(report.alphas)) f.fail("alphas", "is missing");
  const rows: AlphaRow[] = report.alphas
    .filter((a) => a.role !== "sanity" && a.alpha >= 0)
    .map((a, i) => {
      if (!isObject(a.reward) || typeof a.reward.mean !== "number") f.fail(`alphas[${i}].reward.mean`, "is missing");
      const row: AlphaRow = { alpha: a.alpha, meanReward: a.reward.mean, delta: a.vsBaseline?.gain.mean ?? 0, meanLength: a.meanTokens, n: a.n };
      const rewardCi = interval(a.reward);
      if (rewardCi) row.rewardCi = rewardCi;
      const deltaCi = interval(a.vsBaseline?.gain);
      if (deltaCi) row.deltaCi = deltaCi;
      if (a.vsBaseline) row.winRate = a.vsBaseline.winRate;
      if (a.status === "dropped") row.dropped = true;
      if (a.vsBaseline?.lengthFlag) row.lengthFlag = true;
      if (typeof a.truncated === "number") row.truncated = a.truncated;
      return row;
    });
  if (rows.length === 0) f.fail("alphas", "has no α ≥ 0");
  const decision = report.decision;
  if (!isObject(decision)) f.fail("decision", "is missing");
  const summary: SearchSummary = {
    strategy: report.strategy?.name ?? "unknown",
    rows,
    chosenAlpha: decision.kind === "alpha" ? decision.alpha : null,
    pinned: false,
    plots: {},
    lengthUnit: "tokens",
    confidence: report.statistics?.level ?? 0.95,
    reason: decision.reason,
  };
  if (summary.chosenAlpha !== null && !rows.some((r) => r.alpha === summary.chosenAlpha)) {
    f.fail("decision.alpha", `is ${summary.chosenAlpha} but alphas has no row for it`);
  }
  if (decision.kind === "alpha" && decision.reported) {
    const g = decision.reported;
    summary.reported = {
      source: g.source,
      n: g.n,
      delta: g.gain.mean,
      winRate: g.winRate,
      lengthRatio: g.lengthRatio,
      lengthControlled: g.lengthControlled.mean,
      lengthControlledSignificant: g.lengthControlledSignificant,
      truncated: g.truncated,
    };
    const ci = interval(g.gain);
    if (ci) summary.reported.deltaCi = ci;
    const lc = interval(g.lengthControlled);
    if (lc) summary.reported.lengthControlledCi = lc;
  }
  if (report.sanity) {
    const g = report.sanity.gain;
    summary.sanity = { alpha: report.sanity.alpha, n: report.sanity.n, delta: g.mean, passed: report.sanity.passed ?? g.mean < 0, note: report.sanity.note };
    const ci = interval(g);
    if (ci) summary.sanity.deltaCi = ci;
  }
  if (Array.isArray(report.notes) && report.notes.length > 0) summary.notes = report.notes;
  const st = report.statistics;
  if (st && Number.isInteger(st.comparisons) && typeof st.adjustedLevel === "number") summary.decisionStatistics = { comparisons: st.comparisons, adjustedLevel: st.adjustedLevel };
  const heldOut = report.prompts?.heldOut ?? 0;
  if (Array.isArray(report.prompts?.ids)) {
    summary.selectionPrompts = report.prompts.ids.length - heldOut;
    summary.heldOutPrompts = heldOut;
  }
  // A grid of one α is a pinned α: nothing was searched (the job marks its copy `pinned: true`).
  if ((report as { pinned?: unknown }).pinned === true) summary.pinned = true;
  if (typeof report.scorer === "string" && report.scorer) summary.rewardModel = report.scorer;
  if (report.prompts && typeof report.prompts.source === "string") summary.prompts = report.prompts.source;
  if (report.prompts && Number.isInteger(report.prompts.seed)) summary.promptSeed = report.prompts.seed;
  if (report.prompts && Array.isArray(report.prompts.ids)) summary.promptCount = report.prompts.ids.length;
  if (report.sampling && Number.isInteger(report.sampling.maxTokens)) summary.maxNewTokens = report.sampling.maxTokens;
  if (typeof report.generator === "string" && report.generator) summary.generator = report.generator;
  if (report.models?.aligned?.path) summary.aligned = { path: report.models.aligned.path, revision: report.models.aligned.revision };
  if (report.models?.sft?.path) summary.sft = { path: report.models.sft.path, revision: report.models.sft.revision };
  return summary;
}

/**
 * Normalizes parsed search.json (see module comment): the search's own schema
 * (`schema: "expo-bot/search"`), or a flat `{strategy, rows, chosenAlpha, plots}` shape.
 * `file` is used in error messages.
 */
export function normalizeSearchReport(value: unknown, file = "search.json"): SearchSummary {
  if (isSearchReport(value)) return summarizeSearchReport(value, file);
  const f: Fields = new Fields(file);
  if (!isObject(value)) f.fail("(root)", "is not a JSON object");
  const rawRows = pick(value, ["rows", "alphas", "results", "perAlpha"]);
  if (!Array.isArray(rawRows)) f.fail("rows", "is missing (expected an array of per-α rows; also read as alphas, results)");
  const rows: AlphaRow[] = rawRows.map((raw, i) => {
    const at = `rows[${i}]`;
    if (!isObject(raw)) f.fail(at, "is not an object");
    const alpha = f.number(raw, ["alpha"], `${at}.alpha`, true);
    if (alpha < 0) f.fail(`${at}.alpha`, `is ${alpha}; α must be ≥ 0`);
    const row: AlphaRow = {
      alpha,
      meanReward: f.number(raw, ["meanReward", "reward", "mean"], `${at}.meanReward`, true),
      delta: f.number(raw, ["delta", "deltaMean"], `${at}.delta`, false) ?? 0,
    };
    const rewardCi = f.interval(raw, ["rewardCi", "rewardCI", "meanRewardCi"], `${at}.rewardCi`);
    if (rewardCi) row.rewardCi = rewardCi;
    const deltaCi = f.interval(raw, ["deltaCi", "deltaCI", "ci"], `${at}.deltaCi`);
    if (deltaCi) row.deltaCi = deltaCi;
    const winRate = f.number(raw, ["winRate", "winrate"], `${at}.winRate`, false);
    if (winRate !== undefined) {
      if (winRate < 0 || winRate > 1) f.fail(`${at}.winRate`, `is ${winRate}, expected a fraction in [0, 1]`);
      row.winRate = winRate;
    }
    const meanLength = f.number(raw, ["meanLength", "length", "meanTokens"], `${at}.meanLength`, false);
    if (meanLength !== undefined) row.meanLength = meanLength;
    const n = f.number(raw, ["n", "count", "prompts"], `${at}.n`, false);
    if (n !== undefined) row.n = n;
    return row;
  });
  if (rows.length === 0) f.fail("rows", "is empty");

  let chosenAlpha: number | null = null;
  const chosen = pick(value, ["chosenAlpha", "chosen", "alpha"]);
  if (typeof chosen === "number") chosenAlpha = chosen;
  else if (isObject(chosen)) chosenAlpha = f.number(chosen, ["alpha"], "chosen.alpha", false) ?? null;
  else if (chosen !== null && chosen !== undefined && chosen !== "no gain" && chosen !== "none") {
    f.fail("chosenAlpha", `is ${JSON.stringify(chosen)}, expected a number, null or "no gain"`);
  }
  if (chosenAlpha !== null && !Number.isFinite(chosenAlpha)) f.fail("chosenAlpha", "is not finite");
  if (chosenAlpha !== null && !rows.some((r) => r.alpha === chosenAlpha)) {
    f.fail("chosenAlpha", `is ${chosenAlpha} but there is no row for that α`);
  }

  const rawStrategy = pick(value, ["strategy"]);
  const strategy =
    typeof rawStrategy === "string" ? rawStrategy : isObject(rawStrategy) && typeof rawStrategy.name === "string" ? rawStrategy.name : "unknown";
  const pinnedAlpha = pick(value, ["pinnedAlpha"]);
  const pinned = value.pinned === true || (typeof pinnedAlpha === "number" && Number.isFinite(pinnedAlpha)) || strategy === "pinned";

  const plots: SearchSummary["plots"] = {};
  const rawPlots = pick(value, ["plots", "plot"]);
  if (isObject(rawPlots)) {
    if (typeof rawPlots.svg === "string") plots.svg = rawPlots.svg;
    if (typeof rawPlots.png === "string") plots.png = rawPlots.png;
  } else if (Array.isArray(rawPlots)) {
    for (const p of rawPlots) if (typeof p === "string") plots[p.endsWith(".png") ? "png" : "svg"] = p;
  } else if (typeof rawPlots === "string") {
    plots[rawPlots.endsWith(".png") ? "png" : "svg"] = rawPlots;
  }
  for (const [kind, name] of Object.entries(plots)) {
    if (name.includes("/") || name.includes("\\") || name.startsWith(".")) f.fail(`plots.${kind}`, `is "${name}", expected a file name next to the report`);
  }

  const summary: SearchSummary = {
    strategy,
    rows,
    chosenAlpha,
    pinned,
    plots,
    lengthUnit: typeof value.lengthUnit === "string" ? value.lengthUnit : "tokens",
    confidence: f.number(value, ["confidence", "confidenceLevel"], "confidence", false) ?? 0.95,
  };
  const rm = pick(value, ["rewardModel", "scorer"]);
  if (typeof rm === "string") summary.rewardModel = rm;
  else if (isObject(rm) && typeof (rm.model ?? rm.id ?? rm.name) === "string") summary.rewardModel = String(rm.model ?? rm.id ?? rm.name);
  const prompts = pick(value, ["prompts", "promptSet"]);
  if (typeof prompts === "string") summary.prompts = prompts;
  else if (isObject(prompts) && typeof (prompts.name ?? prompts.id) === "string") summary.prompts = String(prompts.name ?? prompts.id);
  return summary;
}

export interface LoadedReport {
  summary: SearchSummary;
  /** Absolute paths of the plot files that exist next to the report, by name in the output. */
  plotFiles: Map<string, string>;
  raw: unknown;
}

/** Reads and normalizes `path`; finds the plots next to it (alpha-curve.svg/.png by default). */
export async function readSearchReport(path: string): Promise<LoadedReport> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UserError(`--report ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`--report ${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const summary = normalizeSearchReport(raw, path);
  const dir = dirname(path);
  const plotFiles = new Map<string, string>();
  for (const kind of ["svg", "png"] as const) {
    const name = summary.plots[kind] ?? (kind === "svg" ? PLOT_SVG : PLOT_PNG);
    const file = join(dir, name);
    if (existsSync(file)) {
      plotFiles.set(name, file);
      summary.plots[kind] = name;
    } else if (summary.plots[kind]) {
      delete summary.plots[kind];
    }
  }
  return { summary, plotFiles, raw };
}
