/** The α search, public API. See docs/search.md. */
export * from "./types.js";
export { runSearch, SANITY_ALPHA, type SearchOptions } from "./search.js";
export { runStrategy, grid, auto, PAPER_GRID, coarseLadder, fineBetween, quadraticVertex } from "./strategies.js";
export type { StrategyOptions, GridOptions, AutoOptions, StrategyResult, DropRecord, RoundRecord } from "./strategies.js";
export { summarize, type SummaryOptions } from "./summary.js";
export { Evaluator, type EvaluatorOptions, type EvaluatorEvent } from "./evaluator.js";
export { ResultCache, generationKey, alphaKey } from "./cache.js";
export * from "./schema.js";
export * from "./stats.js";
export * from "./prompts.js";
export { OpenAIGenerator, type OpenAIGeneratorOptions, type LaunchOptions, type ReloadOptions } from "./openai.js";
export { HttpScorer, type HttpScorerOptions } from "./http-scorer.js";
export { EmbeddedGenerator, EmbeddedScorer, type EmbeddedGeneratorOptions } from "./embedded.js";
export { renderSvg, renderPng, textRenders } from "./plot.js";
export { writeSearchOutputs } from "./output.js";
