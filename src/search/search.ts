/**
 * `runSearch`: prompts × α → search.json. Wires the evaluator (cache, materializer,
 * generator, scorer), runs a strategy, adds the α = −0.5 sanity check, summarizes.
 */
import { UserError } from "../util/errors.js";
import { Evaluator, type EvaluatorEvent } from "./evaluator.js";
import { ResultCache } from "./cache.js";
import { SEARCH_REPORT_SCHEMA, SEARCH_REPORT_VERSION, type SearchReport } from "./schema.js";
import { runStrategy, type StrategyOptions } from "./strategies.js";
import { summarize, type SummaryOptions } from "./summary.js";
import { applySanityGate, measureReportedGain } from "./reported.js";
import { PAPER_SAMPLING, type Generator, type ModelMaterializer, type ModelRevisions, type Prompt, type Sampling, type Scorer } from "./types.js";

export const SANITY_ALPHA = -0.5;

export interface SearchOptions {
  prompts: Prompt[];
  /** Where the prompts came from, and the seed of the subset (recorded in search.json). */
  promptSource?: string;
  promptSeed?: number;
  generator: Generator;
  scorer: Scorer;
  materializer: ModelMaterializer;
  models: { sft: { path: string; revision: string }; aligned: { path: string; revision: string } };
  sampling?: Partial<Sampling>;
  strategy?: StrategyOptions;
  cache?: ResultCache;
  /** Prompts for the α = −0.5 sanity check (default min(N, max(32, ⌈N/8⌉))); 0 skips it. */
  sanityPrompts?: number;
  statistics?: Omit<SummaryOptions, "sanityAlpha">;
  batchSize?: number;
  keepModels?: number;
  /**
   * Share of the prompts (the last ones of the seeded order) kept out of the selection to
   * measure the chosen α's gain without selection bias (default 0.25). Not used when nothing
   * is selected (a grid of one α, e.g. a pinned α): then every prompt measures it.
   */
  heldOut?: number;
  onEvent?: (event: EvaluatorEvent) => void;
  signal?: AbortSignal;
  /** For tests: a fixed timestamp. */
  now?: () => Date;
}

export const DEFAULT_HELD_OUT = 0.25;
/** Fewest held-out prompts worth holding out; below this the search keeps every prompt for the selection and says so. */
export const MIN_HELD_OUT = 10;

/** A grid of one α (a pinned α) chooses nothing, so nothing inflates its gain. */
function selectsNothing(strategy: StrategyOptions): boolean {
  return strategy.kind === "grid" && new Set(strategy.alphas.filter((a) => a !== 0)).size <= 1;
}

/** How many prompts to hold out (module comment of reported.ts says why). */
export function heldOutPrompts(total: number, strategy: StrategyOptions, fraction: number, notes: string[]): number {
  if (!(fraction >= 0 && fraction < 1)) throw new UserError(`held-out share must be in [0, 1), got ${fraction}`);
  if (selectsNothing(strategy)) return 0;
  if (fraction === 0) {
    notes.push("no prompts were held out: the reported gain is measured on the prompts that chose α, so it is biased upward");
    return 0;
  }
  const n = Math.floor(total * fraction);
  if (n < MIN_HELD_OUT || total - n < 2) {
    notes.push(`too few prompts (${total}) to hold ${MIN_HELD_OUT} out: the reported gain is measured on the prompts that chose α, so it is biased upward`);
    return 0;
  }
  return n;
}

export async function runSearch(options: SearchOptions): Promise<SearchReport> {
  if (options.prompts.length < 2) throw new Error(`the α search needs at least 2 prompts, got ${options.prompts.length}`);
  const started = Date.now();
  const sampling: Sampling = { ...PAPER_SAMPLING, ...options.sampling };
  const strategy: StrategyOptions = options.strategy ?? { kind: "auto" };
  const revisions: ModelRevisions = { sft: options.models.sft.revision, aligned: options.models.aligned.revision };
  const notes: string[] = [];
  const heldOut = heldOutPrompts(options.prompts.length, strategy, options.heldOut ?? DEFAULT_HELD_OUT, notes);
  const ev = new Evaluator({
    heldOut,
    prompts: options.prompts,
    generator: options.generator,
    scorer: options.scorer,
    materializer: options.materializer,
    revisions,
    sampling,
    cache: options.cache,
    batchSize: options.batchSize,
    keepModels: options.keepModels,
    onEvent: options.onEvent,
    signal: options.signal,
  });
  try {
    const result = await runStrategy(ev, strategy);
    const N = ev.promptCount;
    const sanityPrompts = Math.min(N, options.sanityPrompts ?? Math.max(32, Math.ceil(N / 8)));
    let sanityRan = false;
    if (sanityPrompts > 0) {
      // α = 0 must cover the sanity prompts for the paired comparison.
      if (ev.count(0) < sanityPrompts) await ev.ensure(0, sanityPrompts);
      try {
        await ev.ensure(SANITY_ALPHA, sanityPrompts);
        sanityRan = true;
      } catch (err) {
        // The check is a report, not a requirement: a materializer without interpolation skips it.
        if (!(err instanceof UserError)) throw err;
        ev.forget(SANITY_ALPHA);
        notes.push(`α=${SANITY_ALPHA} sanity check skipped: ${err.message}`);
      }
    }
    const summary = summarize(ev, result, { ...options.statistics, sanityAlpha: sanityRan ? SANITY_ALPHA : undefined });
    summary.decision = applySanityGate(summary.decision, summary.sanity);
    // Without held-out prompts, only a search that selected nothing (one α) has an unbiased gain to report.
    if (summary.decision.kind === "alpha" && (heldOut > 0 || selectsNothing(strategy))) {
      summary.decision.reported = await measureReportedGain(ev, summary.decision.alpha, {
        level: summary.statistics.level,
        resamples: summary.statistics.bootstrapResamples,
        seed: summary.statistics.bootstrapSeed,
      });
    }
    const { kind, ...strategyOptions } = strategy;
    const report: SearchReport = {
      schema: SEARCH_REPORT_SCHEMA,
      version: SEARCH_REPORT_VERSION,
      createdAt: (options.now?.() ?? new Date()).toISOString(),
      models: options.models,
      generator: options.generator.id,
      scorer: options.scorer.id,
      sampling,
      prompts: { source: options.promptSource ?? "inline", seed: options.promptSeed ?? sampling.seed, ids: options.prompts.map((p) => p.id), heldOut },
      strategy: { name: kind, options: strategyOptions as Record<string, unknown>, rounds: result.rounds },
      cost: {
        generations: ev.generations,
        cachedGenerations: ev.cachedGenerations,
        scored: ev.scored,
        modelLoads: ev.modelLoads,
        modelSwitches: ev.modelSwitches,
        seconds: (Date.now() - started) / 1000,
      },
      statistics: summary.statistics,
      alphas: summary.alphas,
      decision: summary.decision,
    };
    if (summary.sanity) report.sanity = summary.sanity;
    if (summary.decision.kind === "alpha" && heldOut > 0) {
      report.heldOut = [0, summary.decision.alpha].map((alpha) => ({
        alpha,
        rewards: ev.heldOutObservations(alpha).map((o) => o.reward),
        tokens: ev.heldOutObservations(alpha).map((o) => o.tokens),
      }));
    }
    if (notes.length > 0) report.notes = notes;
    return report;
  } finally {
    await ev.close();
  }
}
