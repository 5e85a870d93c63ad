/**
 * The search's settings as flags: one definition for `expo-bot search` and the runner job
 * (`expo-bot job … [search flags]`, src/job/steps.ts), parsed into a typed SearchSettings that
 * runConfiguredSearch (configured.ts) executes. Models and output are not settings: the caller
 * supplies them (folders the CLI resolved, or the job downloaded).
 */
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { ULTRAFEEDBACK } from "./prompts.js";
import { PAPER_GRID, type StrategyOptions } from "./strategies.js";
import { PAPER_SAMPLING } from "./types.js";

/** α values beyond this need --allow-large-alpha (the paper's useful α are below 1; past 10 a model is usually noise). */
export const MAX_SANE_ALPHA = 10;

/** Prompts the decision needs on α = 0 and the pick together (summary.ts's minPrompts). */
export const MIN_DECISION_PROMPTS = 10;

export type GeneratorSettings =
  | { kind: "embedded" }
  | {
      kind: "openai";
      endpoint?: string;
      launch?: string;
      port: number;
      reloadPath?: string;
      reloadEngine?: "sglang" | "vllm";
      /** Where the server loads a LoRA adapter at runtime, when θ1 is one (default vLLM's). */
      loraLoadPath?: string;
      servedModel?: string;
      mode: "chat" | "completions";
      concurrency?: number;
    };

export type ScorerSettings =
  | { kind: "embedded"; /** A folder or a Hub id owner/name[@rev]; undefined: none given. */ rewardModel?: string }
  | { kind: "http"; endpoint: string; format: "json" | "vllm-pooling" };

export interface SearchSettings {
  strategy: StrategyOptions;
  /** "hub" (the paper's UltraFeedback split) or a .jsonl/.parquet file. */
  prompts: string;
  promptField?: string;
  nPrompts?: number;
  seed: number;
  sanityPrompts?: number;
  /** Share of prompts kept out of the choice to measure the chosen α's gain (undefined: the search's default). */
  heldOut?: number;
  keepModels: number;
  maxNewTokens: number;
  generator: GeneratorSettings;
  scorer: ScorerSettings;
  /** Where α folders are extrapolated (default OUT/models). */
  work?: string;
}

export const SEARCH_FLAG_OPTIONS = {
  work: { type: "string" },
  "keep-models": { type: "string" },
  strategy: { type: "string" },
  alphas: { type: "string" },
  "allow-large-alpha": { type: "boolean" },
  prompts: { type: "string" },
  "prompt-field": { type: "string" },
  "n-prompts": { type: "string" },
  seed: { type: "string" },
  "sanity-prompts": { type: "string" },
  "held-out": { type: "string" },
  "switch-cost": { type: "string" },
  generator: { type: "string" },
  endpoint: { type: "string" },
  launch: { type: "string" },
  port: { type: "string" },
  "reload-path": { type: "string" },
  reload: { type: "string" },
  "lora-load-path": { type: "string" },
  "served-model": { type: "string" },
  mode: { type: "string" },
  concurrency: { type: "string" },
  "max-new-tokens": { type: "string" },
  scorer: { type: "string" },
  "reward-model": { type: "string" },
  "scorer-endpoint": { type: "string" },
  "scorer-format": { type: "string" },
} as const;

/** Old spellings: `--max-tokens` was the search's name for what generate calls --max-new-tokens. */
export const SEARCH_FLAG_ALIASES = { "max-tokens": "max-new-tokens" };

export const SEARCH_FLAGS_HELP = `Models
  --work DIR             where α folders are extrapolated for --generator openai (default OUT/models)
  --keep-models N        extrapolated α folders kept on disk for the race's return visits (default 4;
                         each is a full model; 1 re-extrapolates on every return)
Strategy
  --strategy auto|grid   auto (default): widen, refine, race; grid: every α on every prompt
  --alphas 0.1,0.2,...   α values of the grid (default the paper's ${PAPER_GRID.join(",")})
  --allow-large-alpha    accept grid α above ${MAX_SANE_ALPHA}
Prompts
  --prompts FILE|hub     .jsonl / .parquet file, or "hub" (default): ${ULTRAFEEDBACK.repo}, split
                         ${ULTRAFEEDBACK.split}, read from the Hub; offline, give a FILE
  --prompt-field NAME    column/field holding the prompt (default: prompt, instruction, … or first user turn of messages)
  --n-prompts N          seeded subset of N prompts (default all; at least ${MIN_DECISION_PROMPTS})
  --seed N               subset and sampling seed (default ${PAPER_SAMPLING.seed})
  --sanity-prompts N     prompts for the α = −0.5 check (paper Fig. 1; default max(32, N/8); 0 skips it)
  --held-out SHARE       share of prompts kept out of the choice to measure the chosen α's gain (default 0.25)
  --switch-cost N        what a model switch costs, in answers' worth of time; from 100 auto plans fewer,
                         larger steps (default 0)
Generation (paper defaults: temperature 0.7, top-p 0.9, top-k 40, penalties 0.1)
  --generator embedded|openai   embedded ONNX engine (default; loads θ0/θ1 once, α switched in place)
                         or an OpenAI-compatible server (a folder per α)
  --endpoint URL         the server (openai), e.g. http://127.0.0.1:8000
  --launch CMD           start the server per α folder: {model} and {port} are substituted
  --port N               port of the launched server (default 8000)
  --reload-path PATH     reload weights in place, POST PATH {"model_path": "{model}"} (e.g. SGLang /update_weights_from_disk)
  --reload ENGINE        reload weights in place the engine's way: sglang, or vllm (VLLM_SERVER_DEV_MODE=1:
                         /collective_rpc update_config + reload_weights); with --launch, a failed reload restarts
  --served-model NAME    model name in requests (default: first id of /v1/models)
  --lora-load-path P     θ1 is a LoRA adapter: the server (started with --enable-lora, or
                         --launch with {model} = θ0) loads each α's scaled adapter at
                         runtime from P: /v1/load_lora_adapter (vLLM, the default; set
                         VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) or /load_lora_adapter (SGLang)
  --mode chat|completions  request kind (default chat)
  --concurrency N        requests in flight (default 8)
  --max-new-tokens N     answer length cap (default ${PAPER_SAMPLING.maxTokens}; --max-tokens is the old name)
Scoring
  --scorer embedded|http  embedded reward model (default) or an HTTP endpoint
  --reward-model M       reward model folder or Hub id owner/name[@revision] (embedded)
  --scorer-endpoint URL  reward endpoint (http)
  --scorer-format json|vllm-pooling   request shape (default json; see docs/search.md)`;

type FlagValues = { [K in keyof typeof SEARCH_FLAG_OPTIONS]?: (typeof SEARCH_FLAG_OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

export function positiveInt(value: string | undefined, flag: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag}: expected a positive integer, got "${value}"`);
  return n;
}

function reloadEngine(engine: string | undefined, path: string | undefined): "sglang" | "vllm" | undefined {
  if (engine === undefined) return undefined;
  if (path !== undefined) throw new UserError("give --reload or --reload-path, not both");
  if (engine !== "sglang" && engine !== "vllm") throw new UserError(`--reload: expected sglang or vllm, got "${engine}"`);
  return engine;
}

function heldOutShare(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (!(Number.isFinite(x) && x >= 0 && x < 1)) throw new UserError(`--held-out: expected a share in [0, 1), got "${value}"`);
  return x;
}

export function parseAlphas(text: string, allowLarge = false): number[] {
  const alphas = text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const a = Number(s);
    if (!Number.isFinite(a)) throw new UserError(`--alphas: "${s}" is not a number`);
    if (a <= 0) throw new UserError(`--alphas: α must be > 0 (α = 0 is always evaluated), got ${s}`);
    if (a > MAX_SANE_ALPHA && !allowLarge) throw new UserError(`--alphas: α = ${s} is above ${MAX_SANE_ALPHA}, where extrapolated models are usually noise; pass --allow-large-alpha if you mean it`);
    return a;
  });
  if (alphas.length === 0) throw new UserError(`--alphas: no values in "${text}"`);
  return alphas;
}

/** SearchSettings from parsed flag values (see SEARCH_FLAG_OPTIONS). */
export function searchSettingsFrom(values: FlagValues): SearchSettings {
  const seed = values.seed === undefined ? PAPER_SAMPLING.seed : Number(values.seed);
  if (!Number.isInteger(seed)) throw new UserError(`--seed: expected an integer, got "${values.seed}"`);
  const strategyName = values.strategy ?? "auto";
  let strategy: StrategyOptions;
  if (strategyName === "grid") strategy = { kind: "grid", alphas: values.alphas ? parseAlphas(values.alphas, values["allow-large-alpha"]) : [...PAPER_GRID] };
  else if (strategyName === "auto") {
    if (values.alphas) throw new UserError("--alphas applies to --strategy grid only");
    strategy = { kind: "auto" };
    if (values["switch-cost"] !== undefined) {
      const cost = Number(values["switch-cost"]);
      if (!(Number.isFinite(cost) && cost >= 0)) throw new UserError(`--switch-cost: expected a number ≥ 0, got "${values["switch-cost"]}"`);
      strategy.switchCost = cost;
    }
  } else throw new UserError(`--strategy: expected auto or grid, got "${strategyName}"`);

  const mode = values.mode ?? "chat";
  if (mode !== "chat" && mode !== "completions") throw new UserError(`--mode: expected chat or completions, got "${mode}"`);
  let generator: GeneratorSettings;
  const generatorName = values.generator ?? "embedded";
  if (generatorName === "embedded") generator = { kind: "embedded" };
  else if (generatorName === "openai") {
    if (!values.endpoint && !values.launch) throw new UserError("--generator openai needs --endpoint URL or --launch CMD");
    if (values.endpoint && !/^https?:\/\//.test(values.endpoint)) throw new UserError(`--endpoint must be an http(s) URL, got "${values.endpoint}"`);
    generator = {
      kind: "openai",
      endpoint: values.endpoint,
      launch: values.launch,
      port: positiveInt(values.port, "--port", 8000)!,
      reloadPath: values["reload-path"],
      reloadEngine: reloadEngine(values.reload, values["reload-path"]),
      loraLoadPath: values["lora-load-path"],
      servedModel: values["served-model"],
      mode,
      concurrency: positiveInt(values.concurrency, "--concurrency"),
    };
  } else throw new UserError(`--generator: expected embedded or openai, got "${generatorName}"`);

  let scorer: ScorerSettings;
  const scorerName = values.scorer ?? "embedded";
  if (scorerName === "embedded") scorer = { kind: "embedded", rewardModel: values["reward-model"] };
  else if (scorerName === "http") {
    if (!values["scorer-endpoint"]) throw new UserError("--scorer http needs --scorer-endpoint URL");
    const format = values["scorer-format"] ?? "json";
    if (format !== "json" && format !== "vllm-pooling") throw new UserError(`--scorer-format: expected json or vllm-pooling, got "${format}"`);
    scorer = { kind: "http", endpoint: values["scorer-endpoint"], format };
  } else throw new UserError(`--scorer: expected embedded or http, got "${scorerName}"`);

  const nPrompts = positiveInt(values["n-prompts"], "--n-prompts");
  if (nPrompts !== undefined && nPrompts < MIN_DECISION_PROMPTS) {
    throw new UserError(`--n-prompts ${nPrompts}: the decision needs at least ${MIN_DECISION_PROMPTS} prompts compared on α = 0 and the chosen α; nothing was generated`);
  }
  return {
    strategy,
    prompts: values.prompts ?? "hub",
    promptField: values["prompt-field"],
    nPrompts,
    seed,
    sanityPrompts: values["sanity-prompts"] === "0" ? 0 : positiveInt(values["sanity-prompts"], "--sanity-prompts"),
    heldOut: heldOutShare(values["held-out"]),
    keepModels: positiveInt(values["keep-models"], "--keep-models", 4)!,
    maxNewTokens: positiveInt(values["max-new-tokens"], "--max-new-tokens", PAPER_SAMPLING.maxTokens)!,
    generator,
    scorer,
    work: values.work,
  };
}

/** SearchSettings from search flags alone (the job's pass-through arguments). */
export function parseSearchFlags(argv: string[]): SearchSettings {
  const { values } = parseCommandArgs({ argv, options: SEARCH_FLAG_OPTIONS, aliases: SEARCH_FLAG_ALIASES });
  return searchSettingsFrom(values as FlagValues);
}
