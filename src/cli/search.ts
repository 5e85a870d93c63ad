/**
 * `expo-bot search`: find the α for θ2 = θ1 + α(θ1 − θ0) by generating answers to held-out
 * prompts and scoring them with a reward model. Writes OUT/search.json, OUT/alpha-curve.svg,
 * OUT/alpha-curve.png and the resumable cache OUT/cache.jsonl.
 */
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { UserError } from "../util/errors.js";
import { Progress } from "../util/progress.js";
import { ResultCache } from "../search/cache.js";
import { EmbeddedGenerator, EmbeddedScorer } from "../search/embedded.js";
import { HttpScorer } from "../search/http-scorer.js";
import { FolderMaterializer, folderRevision } from "../search/materialize.js";
import { isAdapter } from "../checkpoint/adapter.js";
import { localFolderAccess } from "../checkpoint/weights.js";
import { OpenAIGenerator } from "../search/openai.js";
import { writeSearchOutputs } from "../search/output.js";
import { asyncBufferFromByteSource, findUltraFeedbackFile, promptsFromFile, seededSubset, ULTRAFEEDBACK, ultraFeedbackPrompts } from "../search/prompts.js";
import { runSearch } from "../search/search.js";
import { PAPER_GRID, type StrategyOptions } from "../search/strategies.js";
import { PAPER_SAMPLING, type Generator, type Prompt, type Scorer } from "../search/types.js";

const USAGE = `Usage: expo-bot search --sft DIR --aligned DIR --out DIR [options]

Finds α for θ2 = θ1 + α(θ1 − θ0): generates answers to held-out prompts at several α,
scores them with a reward model, and picks the best α whose gain over α = 0 (θ1 itself) is
significant — or says "no gain". Writes search.json, alpha-curve.svg/.png and cache.jsonl
into --out; rerunning with the same --out resumes without regenerating finished answers.

Models
  --sft DIR              θ0, the SFT model folder
  --aligned DIR          θ1, the DPO/RLHF model folder trained from θ0
  --work DIR             where α folders are extrapolated (default OUT/models)
  --keep-models N        extrapolated α folders kept on disk for the race's return visits (default 4;
                         each is a full model; 1 re-extrapolates on every return)
Strategy
  --strategy auto|grid   auto (default): widen, refine, race; grid: every α on every prompt
  --alphas 0.1,0.2,...   α values of the grid (default the paper's 0.1,0.2,0.3,0.4,0.5)
Prompts
  --prompts FILE|hub     .jsonl / .parquet file, or "hub" (default): ${ULTRAFEEDBACK.repo}, split ${ULTRAFEEDBACK.split}
  --prompt-field NAME    column/field holding the prompt (default: prompt, instruction, … or first user turn of messages)
  --n-prompts N          seeded subset of N prompts (default all)
  --seed N               subset and sampling seed (default ${PAPER_SAMPLING.seed})
  --sanity-prompts N     prompts for the α = −0.5 check (paper Fig. 1; default max(32, N/8); 0 skips it)
Generation (paper defaults: temperature 0.7, top-p 0.9, top-k 40, penalties 0.1)
  --generator embedded|openai   embedded ONNX engine (default) or an OpenAI-compatible server
  --endpoint URL         the server (openai), e.g. http://127.0.0.1:8000
  --launch CMD           start the server per α folder: {model} and {port} are substituted
  --port N               port of the launched server (default 8000)
  --reload-path PATH     reload weights in place, POST PATH {"model_path": "{model}"} (e.g. SGLang /update_weights_from_disk)
  --served-model NAME    model name in requests (default: first id of /v1/models)
  --lora-load-path P     θ1 is a LoRA adapter: the server (started with --enable-lora, or
                         --launch with {model} = θ0) loads each α's scaled adapter at
                         runtime from P: /v1/load_lora_adapter (vLLM, the default; set
                         VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) or /load_lora_adapter (SGLang)
  --mode chat|completions  request kind (default chat)
  --concurrency N        requests in flight (default 8)
  --max-tokens N         answer length cap (default ${PAPER_SAMPLING.maxTokens})
Scoring
  --scorer embedded|http  embedded reward model (default) or an HTTP endpoint
  --reward-model DIR     reward model folder (embedded)
  --scorer-endpoint URL  reward endpoint (http)
  --scorer-format json|vllm-pooling   request shape (default json; see docs/search.md)
Output
  --out DIR              output folder (required)
  --json                 print search.json's decision and cost as JSON on stdout
  --quiet                no progress`;

function positiveInt(value: string | undefined, flag: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag}: expected a positive integer, got "${value}"`);
  return n;
}

function parseAlphas(text: string): number[] {
  const alphas = text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const a = Number(s);
    if (!Number.isFinite(a)) throw new UserError(`--alphas: "${s}" is not a number`);
    if (a <= 0) throw new UserError(`--alphas: α must be > 0 (α = 0 is always evaluated), got ${s}`);
    return a;
  });
  if (alphas.length === 0) throw new UserError(`--alphas: no values in "${text}"`);
  return alphas;
}

async function requireDir(path: string | undefined, flag: string): Promise<string> {
  if (!path) throw new UserError(`${flag} DIR is required`);
  const s = await stat(path).catch(() => null);
  if (!s?.isDirectory()) throw new UserError(`${flag} ${path}: not a folder`);
  return resolve(path);
}

/** The paper's prompt set from the Hub (HF_ENDPOINT and HF_TOKEN honoured), read by HTTP range requests. */
export async function hubPrompts(): Promise<Prompt[]> {
  const { createHubClient, listRepoFiles, HubByteSource } = await import("../hub/index.js");
  const client = createHubClient({ token: process.env.HF_TOKEN, hubUrl: process.env.HF_ENDPOINT });
  const repo = `datasets/${ULTRAFEEDBACK.repo}`;
  const files = await listRepoFiles({ client, repo });
  const path = findUltraFeedbackFile(files.map((f) => f.path));
  const entry = files.find((f) => f.path === path);
  if (!path || !entry) throw new UserError(`${ULTRAFEEDBACK.repo}: no ${ULTRAFEEDBACK.split} parquet file found (files: ${files.map((f) => f.path).join(", ")})`);
  const source = new HubByteSource({ client, repo, path, size: entry.size });
  try {
    return await ultraFeedbackPrompts(asyncBufferFromByteSource(source, entry.size));
  } finally {
    await source.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      sft: { type: "string" },
      aligned: { type: "string" },
      work: { type: "string" },
      strategy: { type: "string", default: "auto" },
      alphas: { type: "string" },
      prompts: { type: "string", default: "hub" },
      "prompt-field": { type: "string" },
      "n-prompts": { type: "string" },
      seed: { type: "string" },
      generator: { type: "string", default: "embedded" },
      endpoint: { type: "string" },
      launch: { type: "string" },
      "lora-load-path": { type: "string" },
      port: { type: "string" },
      "reload-path": { type: "string" },
      "served-model": { type: "string" },
      mode: { type: "string", default: "chat" },
      concurrency: { type: "string" },
      "max-tokens": { type: "string" },
      scorer: { type: "string", default: "embedded" },
      "reward-model": { type: "string" },
      "scorer-endpoint": { type: "string" },
      "scorer-format": { type: "string", default: "json" },
      "keep-models": { type: "string" },
      "sanity-prompts": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const sft = await requireDir(values.sft, "--sft");
  const aligned = await requireDir(values.aligned, "--aligned");
  const alignedIsAdapter = await isAdapter(localFolderAccess(aligned));
  if (!values.out) throw new UserError("--out DIR is required");
  const out = resolve(values.out);
  const seed = values.seed === undefined ? PAPER_SAMPLING.seed : Number(values.seed);
  if (!Number.isInteger(seed)) throw new UserError(`--seed: expected an integer, got "${values.seed}"`);

  let strategy: StrategyOptions;
  if (values.strategy === "grid") strategy = { kind: "grid", alphas: values.alphas ? parseAlphas(values.alphas) : [...PAPER_GRID] };
  else if (values.strategy === "auto") {
    if (values.alphas) throw new UserError("--alphas applies to --strategy grid only");
    strategy = { kind: "auto" };
  } else throw new UserError(`--strategy: expected auto or grid, got "${values.strategy}"`);

  if (values.mode !== "chat" && values.mode !== "completions") throw new UserError(`--mode: expected chat or completions, got "${values.mode}"`);
  let generator: Generator;
  if (values.generator === "embedded") generator = new EmbeddedGenerator();
  else if (values.generator === "openai") {
    if (!values.endpoint && !values.launch) throw new UserError("--generator openai needs --endpoint URL or --launch CMD");
    if (values.endpoint && !/^https?:\/\//.test(values.endpoint)) throw new UserError(`--endpoint must be an http(s) URL, got "${values.endpoint}"`);
    generator = new OpenAIGenerator({
      endpoint: values.endpoint,
      mode: values.mode,
      model: values["served-model"],
      apiKey: process.env.OPENAI_API_KEY,
      concurrency: positiveInt(values.concurrency, "--concurrency"),
      launch: values.launch ? { command: values.launch, port: positiveInt(values.port, "--port", 8000) } : undefined,
      reload: values["reload-path"] ? { path: values["reload-path"], body: { model_path: "{model}" } } : undefined,
      // θ1 is a LoRA adapter: the server keeps θ0 and loads one scaled adapter per α by name.
      lora: alignedIsAdapter ? { baseDir: sft, loadPath: values["lora-load-path"] ?? "/v1/load_lora_adapter" } : undefined,
      log: values.quiet ? undefined : (line) => console.error(`[openai] ${line}`),
    });
  } else throw new UserError(`--generator: expected embedded or openai, got "${values.generator}"`);

  let scorer: Scorer;
  if (values.scorer === "embedded") {
    const rm = await requireDir(values["reward-model"], "--reward-model");
    scorer = new EmbeddedScorer(rm, { id: `embedded-rm:${await folderRevision(rm)}` });
  } else if (values.scorer === "http") {
    if (!values["scorer-endpoint"]) throw new UserError("--scorer http needs --scorer-endpoint URL");
    const format = values["scorer-format"];
    if (format !== "json" && format !== "vllm-pooling") throw new UserError(`--scorer-format: expected json or vllm-pooling, got "${format}"`);
    scorer = new HttpScorer({ endpoint: values["scorer-endpoint"], format });
  } else throw new UserError(`--scorer: expected embedded or http, got "${values.scorer}"`);

  const all = values.prompts === "hub" ? await hubPrompts() : await promptsFromFile(values.prompts!, { field: values["prompt-field"] });
  const nPrompts = positiveInt(values["n-prompts"], "--n-prompts");
  const prompts = seededSubset(all, nPrompts, seed);
  if (prompts.length < 2) throw new UserError(`--prompts ${values.prompts}: ${prompts.length} prompt(s); the search needs at least 2`);

  const { extrapolate } = await import("../expo/index.js");
  const materializer = new FolderMaterializer({
    sft,
    aligned,
    ...(alignedIsAdapter ? { adapter: values.generator === "openai" ? ("adapter" as const) : ("merge" as const) } : {}),
    workDir: values.work ? resolve(values.work) : join(out, "models"),
    extrapolate: (o) => extrapolate(o),
  });
  const cache = await ResultCache.open(join(out, "cache.jsonl"));
  const resumed = cache.size.generations;
  if (!values.quiet && resumed > 0) console.error(`resuming: ${resumed} answers already in ${join(out, "cache.jsonl")}`);

  let progress: Progress | undefined;
  let progressKey = "";
  try {
    const report = await runSearch({
      prompts,
      promptSource: values.prompts === "hub" ? `${ULTRAFEEDBACK.repo}:${ULTRAFEEDBACK.split}` : resolve(values.prompts!),
      promptSeed: seed,
      generator,
      scorer,
      materializer,
      models: { sft: { path: sft, revision: await folderRevision(sft) }, aligned: { path: aligned, revision: await folderRevision(aligned) } },
      sampling: {
        seed,
        maxTokens: positiveInt(values["max-tokens"], "--max-tokens", PAPER_SAMPLING.maxTokens)!,
      },
      strategy,
      cache,
      keepModels: positiveInt(values["keep-models"], "--keep-models", 4),
      sanityPrompts: values["sanity-prompts"] === "0" ? 0 : positiveInt(values["sanity-prompts"], "--sanity-prompts"),
      onEvent: (e) => {
        if (values.quiet) return;
        if (e.kind === "materialize") {
          progress?.finish();
          progress = undefined;
          progressKey = "";
          console.error(`α=${e.alpha}: preparing the model`);
        }
        if (e.kind === "evaluated") {
          const key = `${e.alpha}:${e.target}`;
          if (key !== progressKey) {
            progress?.finish();
            progressKey = key;
            progress = new Progress({ label: `α=${e.alpha}`, total: e.target });
          }
          progress?.update(e.done, `prompts`);
        }
      },
    });
    progress?.finish();
    if (await isSyntheticModel(aligned)) report.synthetic = true;
    const paths = await writeSearchOutputs(out, report);
    if (values.json) {
      console.log(JSON.stringify({ decision: report.decision, cost: report.cost, files: paths }, null, 2));
    } else {
      const d = report.decision;
      console.log(d.kind === "alpha" ? `chosen α = ${d.alpha}: ${d.reason}` : `no gain: ${d.reason}`);
      console.log(`${report.cost.generations} answers generated (${report.cost.cachedGenerations} from the cache), ${report.cost.modelLoads} model loads`);
      console.log(`wrote ${paths.json}, ${paths.svg}, ${paths.png}`);
    }
    return 0;
  } finally {
    await generator.close?.();
    await scorer.close?.();
  }
}

/** θ1's config.json (adapter_config.json for an adapter) marks models generated by src/synthetic (tests, the demo). */
async function isSyntheticModel(dir: string): Promise<boolean> {
  for (const file of ["config.json", "adapter_config.json"]) {
    try {
      if (JSON.parse(await readFile(join(dir, file), "utf8"))._synthetic === true) return true;
    } catch {
      // not there
    }
  }
  return false;
}
