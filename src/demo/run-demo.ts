/**
 * `npm run demo`: the whole ExPO Bot flow on this machine, with no account and no network.
 *
 *   1. generate SYNTHETIC tiny models: an SFT model θ0, an aligned model θ1 = θ0 + Δ whose Δ
 *      really raises a (synthetic) reward model's score, and an unrelated model;
 *   2. start the local Hub (src/hub-server) and the bot (the Probot app, with the production
 *      wiring: src/hub, the pair check, the publish templates) behind a real HTTP server;
 *   3. the local Hub gets the bot's webhook; tagging θ1 with `expo` (a card commit, as on the
 *      Hub) sends it; the bot prechecks the pair and dispatches the job, which runs in-process
 *      in place of the GPU runner: download → check → α search (embedded ONNX engine and
 *      reward model) → extrapolate → publish `<namespace>/<θ1 name>-ExPO`;
 *   4. an unrelated model tagged the same way is refused by the precheck, before any job;
 *   5. θ1 published as a PEFT LoRA adapter on θ0 goes through the same flow: precheck of the
 *      adapter against θ0, α search, and an adapter repo `<namespace>/<θ1 name>-ExPO` whose
 *      adapter is θ1's with its update scaled by 1 + α.
 *
 * GitHub is the one part simulated: the tracking issues live in memory (LocalIssueTracker).
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative, resolve } from "node:path";
import { Probot } from "probot";
import { parse as parseYaml } from "yaml";
import { createExpoApp, type ExpoApp } from "../bot/app.js";
import { makeConfig } from "../bot/config.js";
import { InProcessDispatcher } from "../bot/dispatch.js";
import { Ledger } from "../bot/ledger.js";
import type { RequestRecord } from "../bot/types.js";
import { hubAdapter, hubDiscussions, hubPrecheck, publishRenderer } from "../bot/wiring.js";
import { startLocalHub, type LocalHub } from "../hub-server/index.js";
import { createHubClient, readTextFile, type HubClientOptions } from "../hub/index.js";
import { parseJobRequest, runJob } from "../job/job.js";
import type { ExpoResults } from "../job/results.js";
import { defaultSteps } from "../job/steps.js";
import { decisionText, publishedGainText, whyChosen } from "../search/explain.js";
import { cardFrontMatter } from "../synthetic/card.js";
import { demoPrompts, FILLER_PIECE, HELPFUL_PIECES, writeDemoAdapter, writeDemoModels } from "../synthetic/demo-models.js";
import { LocalIssueTracker } from "./local-issues.js";

export interface DemoOptions {
  /** Working folder (recreated): models, the local Hub's storage, job outputs. */
  dir: string;
  /** Human-readable progress and report lines (default: stdout). */
  log?: (line: string) => void;
  /** α search strategy (default auto). */
  strategy?: "auto" | "grid";
  /** Prompts from the built-in list (default 48). */
  prompts?: number;
  /** Answer length cap in tokens (default 24). */
  maxTokens?: number;
  /** Run case 3, θ1 as a LoRA adapter (default true). */
  adapterCase?: boolean;
}

export interface DemoCase {
  repo: string;
  state: RequestRecord["state"];
  reasons: string[];
  result: ExpoResults | null;
}

export interface DemoOutcome {
  aligned: DemoCase & {
    /** The published card's YAML metadata and full text, read back from the local Hub. */
    card: { metadata: Record<string, unknown>; text: string } | null;
    /** The result comment in θ1's Hub discussion. */
    comment: string | null;
    /** The α curve drawn by the search (PNG and SVG), on disk. */
    plots: string[];
    /** The pre-check's and the job's verdict on the pair (src/expo/verdict), when written. */
    check: { verdict: string; relativeDistance: number | null; cosine: number | null } | null;
    /** The search's decision in words, labelled as the selection's evidence (src/search/explain.ts). */
    decision: string | null;
    /** The gain the card and comment publish: the chosen α on held-out prompts (search.json v2). */
    publishedGain: string | null;
    /** Why the chosen α, when another α has the higher mean (src/search/explain.ts). */
    why: string | null;
    /** The paper's Figure 1 check: α = −0.5 (halfway back to θ0) against θ1. */
    sanity: { alpha: number; gain: number; note: string } | null;
  };
  unrelated: DemoCase & { comment: string | null };
  /** Case 3: θ1 as a LoRA adapter (null when not run). */
  adapter: (DemoCase & {
    card: { metadata: Record<string, unknown>; text: string } | null;
    comment: string | null;
    check: { verdict: string; r: number | null; scale: number | null; relativeUpdate: number | null } | null;
    /** The published adapter_config.json's lora_alpha, and θ1's. */
    loraAlpha: { theta1: number; published: number | null };
    /** The search's α visits (an α revisited after another counts again), and the times generation moved to another model (1: θ0 and the adapter loaded once, every α switched in place). */
    cost: { alphaVisits: number; modelSwitches: number | null } | null;
  }) | null;
  hubUrl: string;
  seconds: number;
}

const NAMESPACE = "expo-bot";
const TOKEN = "hf_demo_bot_token_not_a_secret";
const WEBHOOK_SECRET = "demo-webhook-secret-4b1d0c5e9a7f";
const SYNTHETIC_NOTE = "SYNTHETIC tiny models with hand-set weights: this demonstrates the pipeline, not a real language model.";

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name));
  return out;
}

async function waitFor<T>(what: string, probe: () => T | undefined | null, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null) return v;
    if (Date.now() > end) throw new Error(`demo: timed out after ${ms / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = resolve(options.dir);
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;
  const step = (text: string) => log(`▸ ${text}  [${elapsed()}]`);

  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  log(`ExPO Bot demo — ${SYNTHETIC_NOTE}`);
  log(`Working folder: ${dir}\n`);

  step("Generating synthetic models: θ0 (SFT), θ1 = θ0 + Δ (aligned), an unrelated model, a reward model");
  const licence = { license: "apache-2.0" };
  const models = await writeDemoModels({
    dir: join(dir, "models"),
    sftCard: { ...licence, tags: ["synthetic"] },
    alignedCard: { ...licence, base_model: "demo/synthetic-sft", tags: ["synthetic"] },
    unrelatedCard: { ...licence, base_model: "demo/synthetic-sft", tags: ["synthetic"] },
  });
  log(`  the reward model likes ${HELPFUL_PIECES.map((p) => `"${p}"`).join(" ")} and dislikes "${FILLER_PIECE}"; θ1's Δ raises both a little`);
  const adapterCase = options.adapterCase ?? true;
  const adapter = adapterCase
    ? await writeDemoAdapter({ dir: join(dir, "models", "dpo-lora"), base: models.sft.dir, baseModelName: "demo/synthetic-sft", card: { ...licence, base_model: "demo/synthetic-sft", library_name: "peft", tags: ["synthetic", "lora"] } })
    : null;
  if (adapter) log(`  and θ1 as a PEFT LoRA adapter on θ0 (r = 4 on q_proj/v_proj, r = 1 on lm_head via rank_pattern), the way QLoRA DPO runs publish it`);
  const promptFile = join(dir, "prompts.jsonl");
  await writeFile(promptFile, demoPrompts(options.prompts ?? 48).map((prompt) => JSON.stringify({ prompt })).join("\n") + "\n");

  step("Starting the local Hub and uploading demo/synthetic-sft, demo/synthetic-dpo, demo/synthetic-unrelated");
  let hub: LocalHub | null = null;
  let server: Server | null = null;
  let bot: ExpoApp | null = null;
  let ledger: Ledger | null = null;
  try {
    hub = await startLocalHub({ dir: join(dir, "hub") });
    hub.admin.addToken(TOKEN, NAMESPACE);
    hub.admin.createRepo("demo/synthetic-sft", { files: await folderFiles(models.sft.dir) });
    hub.admin.createRepo("demo/synthetic-dpo", { files: await folderFiles(models.aligned.dir) });
    hub.admin.createRepo("demo/synthetic-unrelated", { files: await folderFiles(models.unrelated.dir) });
    if (adapter) hub.admin.createRepo("demo/synthetic-dpo-lora", { files: await folderFiles(adapter.dir) });
    log(`  local Hub at ${hub.url} (the real @huggingface/hub client talks to it)`);

    step("Starting the bot (Probot app with the production wiring) and registering its Hub webhook");
    const hubSettings: HubClientOptions = { hubUrl: hub.url, token: TOKEN };
    const client = createHubClient(hubSettings);
    const searchArgs = [
      "--reward-model", models.reward.dir,
      "--prompts", promptFile,
      "--max-new-tokens", String(options.maxTokens ?? 24),
      "--strategy", options.strategy ?? "auto",
    ];
    const jobLog = (line: string) => log(`    job: ${line}  [${elapsed()}]`);
    const dispatcher = new InProcessDispatcher(async (request, run) => {
      const req = parseJobRequest(JSON.stringify(request));
      const out = join(dir, "jobs", `${req.requestId}-${run.runId}`);
      const results = await runJob({ request: req, out, steps: defaultSteps({ hub: hubSettings, namespace: NAMESPACE, searchArgs }), log: jobLog });
      return JSON.stringify(results);
    });
    ledger = new Ledger(join(dir, "ledger.sqlite"));
    const issues = new LocalIssueTracker();
    bot = createExpoApp({
      config: makeConfig({ homeRepo: "expo-bot/home", hubWebhookSecret: WEBHOOK_SECRET, botNamespace: NAMESPACE, hubUrl: hub.url, pollIntervalMs: 0, reconcileIntervalMs: 0 }),
      ledger,
      hub: hubAdapter(client),
      precheck: hubPrecheck(hubSettings),
      discussions: hubDiscussions(client),
      renderer: publishRenderer({ hubUrl: hub.url }),
      issues,
      dispatcher,
      reconcileOnStart: false,
    });
    const probot = new Probot({ githubToken: "demo-has-no-github", logLevel: "fatal" });
    const handlers: Array<(req: IncomingMessage, res: ServerResponse) => unknown> = [];
    await probot.load(bot.appFn, { cwd: process.cwd(), addHandler: (h) => handlers.push(h) });
    const service = bot.service!;
    dispatcher.onCompleted = (run) => service.onRunCompleted(run);
    server = createServer(async (req, res) => {
      for (const h of handlers) if (await h(req, res)) return;
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const botUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    hub.admin.addWebhook({ url: `${botUrl}/api/hub/webhooks`, secret: WEBHOOK_SECRET });
    log(`  bot listening at ${botUrl}; Hub webhook → ${botUrl}/api/hub/webhooks`);

    const tag = async (repo: string, card: Record<string, unknown>) => {
      const readme = (await readTextFile({ client, repo, path: "README.md" })) ?? "";
      const body = readme.replace(/^---\n[\s\S]*?\n---\n/, "");
      hub!.admin.commit(repo, { "README.md": cardFrontMatter(card) + body }, { title: "Add the expo tag" });
      const [delivery] = (await hub!.admin.webhooksSettled()).slice(-1);
      log(`  ${repo}: card now tagged "expo"; the Hub's webhook reached the bot (HTTP ${delivery?.status})`);
    };
    const terminal = (repo: string) => () => ledger!.all().find((r) => r.theta1 === repo && ["refused", "published", "no-gain", "failed"].includes(r.state)) ?? null;

    step("Case 1: the author of demo/synthetic-dpo tags it with expo (its card names demo/synthetic-sft as base_model)");
    await tag("demo/synthetic-dpo", { ...licence, base_model: "demo/synthetic-sft", tags: ["synthetic", "expo"] });
    const alignedRecord = await waitFor("the demo/synthetic-dpo request", terminal("demo/synthetic-dpo"), 170_000);
    await dispatcher.idle();

    step("Case 2: demo/synthetic-unrelated is tagged the same way, but its weights were trained independently");
    await tag("demo/synthetic-unrelated", { ...licence, base_model: "demo/synthetic-sft", tags: ["synthetic", "expo"] });
    const unrelatedRecord = await waitFor("the demo/synthetic-unrelated request", terminal("demo/synthetic-unrelated"), 60_000);
    // The refusal comment follows the ledger's refusal: wait for it too.
    const threadText = (repo: string) => hub!.admin.discussions(repo).flatMap((d) => d.events.map((e: any) => String(e.content ?? e.data?.latest?.raw ?? "")));
    await waitFor("the refusal comment", () => (threadText("demo/synthetic-unrelated").some((b) => b.includes("expo-bot:refused")) ? true : null), 30_000);

    let adapterRecord: RequestRecord | null = null;
    if (adapter) {
      step("Case 3: demo/synthetic-dpo-lora, θ1 published as a LoRA adapter on demo/synthetic-sft, is tagged expo");
      await tag("demo/synthetic-dpo-lora", { ...licence, base_model: "demo/synthetic-sft", library_name: "peft", tags: ["synthetic", "lora", "expo"] });
      adapterRecord = await waitFor("the demo/synthetic-dpo-lora request", terminal("demo/synthetic-dpo-lora"), 170_000);
      await dispatcher.idle();
      await waitFor("the adapter's result comment", () => (threadText("demo/synthetic-dpo-lora").some((b) => /expo-bot:(result|refused|failed|no-gain)/.test(b)) ? true : null), 30_000).catch(() => null);
    }

    // Read the outcome back as a user would see it.
    const aligned = ledger.get(alignedRecord.id)!;
    const unrelated = ledger.get(unrelatedRecord.id)!;
    const publishedRepo = aligned.result?.published?.repo ?? null;
    const readCard = async (repo: string | null): Promise<DemoOutcome["aligned"]["card"]> => {
      if (!repo) return null;
      const text = (await readTextFile({ client, repo, path: "README.md" })) ?? "";
      const fm = /^---\n([\s\S]*?)\n---\n/.exec(text);
      return { metadata: (fm ? parseYaml(fm[1]) : {}) as Record<string, unknown>, text };
    };
    const card = await readCard(publishedRepo);
    const jobDir = join(dir, "jobs", `${aligned.id}-${aligned.runId}`);
    const plots = (await readdir(join(jobDir, "search")).catch(() => [] as string[])).filter((f) => /\.(png|svg)$/.test(f)).map((f) => join(jobDir, "search", f));
    const checkJson = await readFile(join(jobDir, "check.json"), "utf8").then((t) => JSON.parse(t), () => null);
    const searchJson = await readFile(join(jobDir, "search", "search.json"), "utf8").then((t) => JSON.parse(t), () => null);
    const resultComment = threadText("demo/synthetic-dpo").find((b) => b.includes("expo-bot:result")) ?? null;
    const refusedComment = threadText("demo/synthetic-unrelated").find((b) => b.includes("expo-bot:refused")) ?? null;

    const outcome: DemoOutcome = {
      aligned: {
        repo: "demo/synthetic-dpo",
        state: aligned.state,
        reasons: aligned.reasons,
        result: aligned.result,
        card,
        comment: resultComment,
        plots,
        decision: searchJson ? decisionText(searchJson) : null,
        publishedGain: searchJson ? publishedGainText(searchJson) : null,
        why: searchJson ? whyChosen(searchJson) : null,
        sanity: searchJson?.sanity ? { alpha: searchJson.sanity.alpha, gain: searchJson.sanity.gain.mean, note: searchJson.sanity.note } : null,
        check: checkJson ? { verdict: checkJson.verdict, relativeDistance: checkJson.overall?.relativeDistance ?? null, cosine: checkJson.overall?.cosine ?? null } : null,
      },
      unrelated: { repo: "demo/synthetic-unrelated", state: unrelated.state, reasons: unrelated.reasons, result: unrelated.result, comment: refusedComment },
      adapter: adapterRecord ? await adapterOutcome(ledger.get(adapterRecord.id)!) : null,
      hubUrl: hub.url,
      seconds: (performance.now() - started) / 1000,
    };
    async function adapterOutcome(rec: RequestRecord): Promise<NonNullable<DemoOutcome["adapter"]>> {
      const repo = rec.result?.published?.repo ?? null;
      const job = join(dir, "jobs", `${rec.id}-${rec.runId}`);
      const check = await readFile(join(job, "check.json"), "utf8").then((t) => JSON.parse(t), () => null);
      const search = await readFile(join(job, "search", "search.json"), "utf8").then((t) => JSON.parse(t), () => null);
      const published = repo ? await readTextFile({ client, repo, path: "adapter_config.json" }) : null;
      return {
        repo: "demo/synthetic-dpo-lora",
        state: rec.state,
        reasons: rec.reasons,
        result: rec.result,
        card: await readCard(repo),
        comment: threadText("demo/synthetic-dpo-lora").find((b) => b.includes("expo-bot:result")) ?? null,
        check: check ? { verdict: check.verdict, r: check.adapter?.r ?? null, scale: check.adapter?.scale?.max ?? null, relativeUpdate: check.overall?.relativeDistance ?? null } : null,
        loraAlpha: { theta1: Number(adapter!.config.lora_alpha), published: published ? Number(JSON.parse(published).lora_alpha) : null },
        cost: search?.cost ? { alphaVisits: search.cost.modelLoads, modelSwitches: search.cost.modelSwitches ?? null } : null,
      };
    }
    printOutcome(outcome, dir, issues, log);
    return outcome;
  } finally {
    bot?.stop();
    if (server) await new Promise((r) => server!.close(r));
    ledger?.close();
    await hub?.close();
  }
}

function fmt(x: number, digits = 3): string {
  return (x >= 0 ? "+" : "") + x.toFixed(digits);
}

function printOutcome(o: DemoOutcome, dir: string, issues: LocalIssueTracker, log: (line: string) => void): void {
  const rel = (p: string) => relative(process.cwd(), p) || p;
  const r = o.aligned.result;
  log("\n═══ Case 1: demo/synthetic-dpo (θ1) from demo/synthetic-sft (θ0) ═══");
  if (o.aligned.check) log(`Verdict: ${o.aligned.check.verdict} — ‖θ1−θ0‖/‖θ0‖ = ${o.aligned.check.relativeDistance?.toExponential(2)}, cosine = ${o.aligned.check.cosine?.toFixed(5)} (fine-tuning-like: mode-connected)`);
  if (r) {
    log(`α search (${r.alphas.length} α values, reward model: synthetic):`);
    log("  Per-α differences on the prompts the search used (each CI for that α alone):");
    log("    α  mean reward    Δ vs α=0   95% CI of Δ          win rate  length");
    for (const a of r.alphas) {
      const ci = a.alpha === 0 ? "".padEnd(20) : `[${fmt(a.ci[0])}, ${fmt(a.ci[1])}]`.padEnd(20);
      log(`  ${a.alpha.toFixed(2).padStart(5)}  ${a.reward.toFixed(3).padStart(11)}  ${fmt(a.delta).padStart(9)}   ${ci} ${(a.winRate * 100).toFixed(0).padStart(5)} %  ${a.meanLength.toFixed(1).padStart(6)}`);
    }
    if (o.aligned.decision) log(`Decision: ${o.aligned.decision}`);
    else log(r.chosenAlpha === null ? "Decision: no gain — nothing published." : `Decision: α = ${r.chosenAlpha}`);
    if (o.aligned.why) log(`  ${o.aligned.why}`);
    if (o.aligned.publishedGain) log(`Published gain: ${o.aligned.publishedGain.replace(/^published gain /, "")}`);
    if (o.aligned.sanity) log(`Sanity check: α = ${o.aligned.sanity.alpha}: Δ reward vs α = 0 ${fmt(o.aligned.sanity.gain)} — ${o.aligned.sanity.note}`);
  }
  for (const p of o.aligned.plots) log(`Plot: ${rel(p)}`);
  if (r?.published) {
    log(`Published: ${r.published.repo} @ ${r.published.commit.slice(0, 12)} on the local Hub (${o.hubUrl}/${r.published.repo})`);
    log(`  stored under ${rel(join(dir, "hub"))}; card metadata:`);
    const md = o.aligned.card?.metadata ?? {};
    for (const key of ["base_model", "base_model_relation", "tags", "license", "library_name", "pipeline_tag"]) if (key in md) log(`    ${key}: ${JSON.stringify(md[key])}`);
  }
  if (o.aligned.comment) {
    log("The bot's comment in demo/synthetic-dpo's Hub discussion:");
    for (const line of o.aligned.comment.split("\n")) if (!line.startsWith("<!--")) log(`  │ ${line}`);
  }
  log("\n═══ Case 2: demo/synthetic-unrelated, an unrelated model claiming demo/synthetic-sft as its parent ═══");
  log(`Refused by the pre-check, before any GPU time (state: ${o.unrelated.state}). Reasons:`);
  for (const reason of o.unrelated.reasons) log(`  - ${reason}`);
  if (o.adapter) printAdapterCase(o.adapter, o.hubUrl, log);
  log("\nGitHub tracking issues (simulated in the demo — no account):");
  for (const i of issues.issues) log(`  #${i.number} ${i.title} [${i.state}] — ${i.comments.length} comment(s)`);
  log(`\nDone in ${o.seconds.toFixed(1)}s. Everything above is on disk under ${rel(dir)}.`);
}

function printAdapterCase(a: NonNullable<DemoOutcome["adapter"]>, hubUrl: string, log: (line: string) => void): void {
  log("\n═══ Case 3: demo/synthetic-dpo-lora, θ1 as a PEFT LoRA adapter on demo/synthetic-sft ═══");
  if (a.check) log(`Verdict: ${a.check.verdict} — LoRA r = ${a.check.r}, s up to ${a.check.scale}, ‖s·B·A‖/‖θ0‖ on the sampled modules = ${a.check.relativeUpdate?.toExponential(2)}`);
  const r = a.result;
  if (r) {
    log(`α search: ${r.alphas.map((x) => `α=${x.alpha} Δ ${fmt(x.delta)}`).join(", ")}${a.cost ? ` (${a.cost.alphaVisits} α visits served from ${a.cost.modelSwitches} load of θ0 and the adapter: the embedded engine applies (1 + α)·s·B·A in place, no merged folder)` : ""}`);
    log(r.chosenAlpha === null ? "Decision: no gain — nothing published." : `Decision: α = ${r.chosenAlpha}: the update s·B·A scaled by ${1 + r.chosenAlpha}`);
  }
  if (r?.published) {
    log(`Published: ${r.published.repo} @ ${r.published.commit.slice(0, 12)} (${hubUrl}/${r.published.repo}): an adapter, lora_alpha ${a.loraAlpha.theta1} → ${a.loraAlpha.published}, lora_A/lora_B bit-identical to θ1's; card metadata:`);
    const md = a.card?.metadata ?? {};
    for (const key of ["base_model", "base_model_relation", "tags", "library_name"]) if (key in md) log(`    ${key}: ${JSON.stringify(md[key])}`);
  } else {
    log(`State: ${a.state}${a.reasons.length ? `; reasons: ${a.reasons.join("; ")}` : ""}`);
  }
  if (a.comment) log(`The bot's comment in demo/synthetic-dpo-lora's Hub discussion: ${a.comment.split("\n").filter((l) => l.trim() && !l.startsWith("<!--"))[0] ?? ""}`);
}
