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
  onEvent?: (event: EvaluatorEvent) => void;
  signal?: AbortSignal;
  /** For tests: a fixed timestamp. */
  now?: () => Date;
}

export async function runSearch(options: SearchOptions): Promise<SearchReport> {
  if (options.prompts.length < 2) throw new Error(`the α search needs at least 2 prompts, got ${options.prompts.length}`);
  const started = Date.now();
  const sampling: Sampling = { ...PAPER_SAMPLING, ...options.sampling };
  const strategy: StrategyOptions = options.strategy ?? { kind: "auto" };
  const revisions: ModelRevisions = { sft: options.models.sft.revision, aligned: options.models.aligned.revision };
  const ev = new Evaluator({
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
    const N = options.prompts.length;
    const sanityPrompts = Math.min(N, options.sanityPrompts ?? Math.max(32, Math.ceil(N / 8)));
    const notes: string[] = [];
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
    const { kind, ...strategyOptions } = strategy;
    const report: SearchReport = {
      schema: SEARCH_REPORT_SCHEMA,
      version: SEARCH_REPORT_VERSION,
      createdAt: (options.now?.() ?? new Date()).toISOString(),
      models: options.models,
      generator: options.generator.id,
      scorer: options.scorer.id,
      sampling,
      prompts: { source: options.promptSource ?? "inline", seed: options.promptSeed ?? sampling.seed, ids: options.prompts.map((p) => p.id) },
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
    if (notes.length > 0) report.notes = notes;
    return report;
  } finally {
    await ev.close();
  }
}
