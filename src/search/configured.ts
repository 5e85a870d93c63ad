/**
 * runConfiguredSearch: SearchSettings (settings.ts) + model folders → search.json, the α plot
 * and the resumable cache in `out`. What `expo-bot search` and the runner job share: building
 * the generator, scorer, prompts, materializer and cache, running runSearch, writing outputs.
 */
import { join, resolve } from "node:path";
import { isSyntheticFolder } from "../checkpoint/model-folder.js";
import { isAdapter } from "../checkpoint/adapter.js";
import { localFolderAccess } from "../checkpoint/weights.js";
import { HubError } from "../hub/errors.js";
import { UserError } from "../util/errors.js";
import { ResultCache } from "./cache.js";
import { EmbeddedGenerator, EmbeddedScorer } from "./embedded.js";
import type { EvaluatorEvent } from "./evaluator.js";
import { HttpScorer } from "./http-scorer.js";
import { hubPrompts } from "./hub-prompts.js";
import { FolderMaterializer, folderRevision, InPlaceMaterializer } from "./materialize.js";
import { OpenAIGenerator, RELOAD_PRESETS } from "./openai.js";
import { writeSearchOutputs } from "./output.js";
import { promptsFromFile, seededSubset, ULTRAFEEDBACK } from "./prompts.js";
import type { SearchReport } from "./schema.js";
import { runSearch } from "./search.js";
import { MIN_DECISION_PROMPTS, type SearchSettings } from "./settings.js";
import type { Generator, Prompt, Scorer } from "./types.js";

export interface ConfiguredSearchParams {
  settings: SearchSettings;
  sft: string;
  aligned: string;
  /** The embedded scorer's reward model folder (resolved by the caller from settings.scorer.rewardModel), and its Hub id@commit if it came from the Hub. */
  rewardModel?: { dir: string; id?: string };
  out: string;
  hubUrl?: string;
  onEvent?: (event: EvaluatorEvent) => void;
  /** Human-readable notes (resume, the OpenAI server's log). */
  log?: (line: string) => void;
}

export interface ConfiguredSearchResult {
  report: SearchReport;
  paths: { json: string; svg: string; png: string };
}

/** The prompts the settings name, subset and checked for size (before anything is generated). */
export async function loadSearchPrompts(settings: SearchSettings, hubUrl?: string): Promise<Prompt[]> {
  let all: Prompt[];
  if (settings.prompts === "hub") {
    try {
      all = await hubPrompts({ hubUrl });
    } catch (err) {
      if (err instanceof HubError) {
        throw new UserError(`--prompts hub (${ULTRAFEEDBACK.repo} on the Hub): ${err.message}\nOffline, give the prompts as a file: --prompts prompts.jsonl (one {"prompt": …} per line) or a .parquet file.`, { cause: err, exitCode: err.exitCode });
      }
      throw err;
    }
  } else all = await promptsFromFile(settings.prompts, { field: settings.promptField });
  const prompts = seededSubset(all, settings.nPrompts, settings.seed);
  if (prompts.length < MIN_DECISION_PROMPTS) {
    throw new UserError(`--prompts ${settings.prompts}: ${prompts.length} prompt(s); the decision needs at least ${MIN_DECISION_PROMPTS}. Nothing was generated.`);
  }
  return prompts;
}

/** The embedded scorer's id in search.json and the card: the reward model's Hub id@commit when known. */
async function rewardModelId(rm: { dir: string; id?: string }): Promise<string> {
  return rm.id ?? (await folderRevision(rm.dir));
}

export async function runConfiguredSearch(params: ConfiguredSearchParams): Promise<ConfiguredSearchResult> {
  const { settings } = params;
  const out = resolve(params.out);
  const log = params.log ?? (() => undefined);
  const prompts = await loadSearchPrompts(settings, params.hubUrl);

  let scorer: Scorer;
  if (settings.scorer.kind === "embedded") {
    if (!params.rewardModel) throw new UserError("--reward-model is required with the embedded scorer (a folder or a Hub id owner/name[@revision])");
    scorer = new EmbeddedScorer(params.rewardModel.dir, { id: await rewardModelId(params.rewardModel) });
  } else scorer = new HttpScorer({ endpoint: settings.scorer.endpoint, format: settings.scorer.format });

  const g = settings.generator;
  // A LoRA θ1 (docs/lora.md): every α is the same adapter scaled. The embedded engine loads
  // θ0 (+ θ1, or the adapter) once and switches α in place; external engines get a folder per α,
  // or, for an adapter, keep θ0 and load one scaled adapter per α by name.
  const alignedIsAdapter = await isAdapter(localFolderAccess(params.aligned));
  const generator: Generator =
    g.kind === "embedded"
      ? new EmbeddedGenerator({ pair: { sft: params.sft, aligned: params.aligned } })
      : new OpenAIGenerator({
          endpoint: g.endpoint,
          mode: g.mode,
          model: g.servedModel,
          apiKey: process.env.OPENAI_API_KEY,
          concurrency: g.concurrency,
          launch: g.launch ? { command: g.launch, port: g.port } : undefined,
          reload: g.reloadEngine ? RELOAD_PRESETS[g.reloadEngine] : g.reloadPath ? { path: g.reloadPath, body: { model_path: "{model}" } } : undefined,
          lora: alignedIsAdapter ? { baseDir: params.sft, loadPath: g.loraLoadPath ?? "/v1/load_lora_adapter" } : undefined,
          log: (line) => log(`[openai] ${line}`),
        });

  const { extrapolate } = await import("../expo/index.js");
  const materializer = g.kind === "embedded"
    ? new InPlaceMaterializer(params.aligned)
    : new FolderMaterializer({
        sft: params.sft,
        aligned: params.aligned,
        ...(alignedIsAdapter ? { adapter: "adapter" as const } : {}),
        workDir: settings.work ? resolve(settings.work) : join(out, "models"),
        extrapolate: (o) => extrapolate(o),
      });
  const cache = await ResultCache.open(join(out, "cache.jsonl"));
  if (cache.size.generations > 0) log(`resuming: ${cache.size.generations} answers already in ${join(out, "cache.jsonl")}`);
  try {
    const report = await runSearch({
      prompts,
      promptSource: settings.prompts === "hub" ? `${ULTRAFEEDBACK.repo}:${ULTRAFEEDBACK.split}` : resolve(settings.prompts),
      promptSeed: settings.seed,
      generator,
      scorer,
      materializer,
      models: { sft: { path: params.sft, revision: await folderRevision(params.sft) }, aligned: { path: params.aligned, revision: await folderRevision(params.aligned) } },
      sampling: { seed: settings.seed, maxTokens: settings.maxNewTokens },
      strategy: settings.strategy,
      cache,
      keepModels: settings.keepModels,
      sanityPrompts: settings.sanityPrompts,
      heldOut: settings.heldOut,
      onEvent: params.onEvent,
    });
    if (await isSyntheticFolder(params.aligned)) report.synthetic = true;
    return { report, paths: await writeSearchOutputs(out, report) };
  } finally {
    await generator.close?.();
    await scorer.close?.();
  }
}

