/**
 * The whole happy path with the production seams, against the local Hub (src/hub-server)
 * and the real @huggingface/hub client: Hub webhook → intake (model info, safetensors
 * parameter count) → checkPair precheck → in-process job (download, full check, α search with
 * the embedded engine and reward model on the tiny demo models, extrapolate, publish to the
 * local Hub) → results.json → comments in θ1's Hub thread (src/publish templates) and on the
 * tracking issue. A few seconds on two cores.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Probot } from "probot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExpoApp, type ExpoApp } from "../../src/bot/app.js";
import { makeConfig } from "../../src/bot/config.js";
import { InProcessDispatcher } from "../../src/bot/dispatch.js";
import { Ledger } from "../../src/bot/ledger.js";
import { hubAdapter, hubDiscussions, hubPrecheck, publishRenderer } from "../../src/bot/wiring.js";
import { startLocalHub, type LocalHub } from "../../src/hub-server/index.js";
import { createHubClient, getModelInfo } from "../../src/hub/index.js";
import { parseJobRequest, runJob } from "../../src/job/job.js";
import { defaultSteps } from "../../src/job/steps.js";
import { demoPrompts, writeDemoModels } from "../../src/synthetic/demo-models.js";
import { FakeIssues } from "./doubles.js";
import { hubPayload } from "./fixtures.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

const TOKEN = "hf_bot_integration_token_0001";
const SECRET = "hub-webhook-secret-0123456789";
let root: string;
let hub: LocalHub;
let server: Server;
let url: string;
let bot: ExpoApp;
let ledger: Ledger;
let issues: FakeIssues;
let dispatcher: InProcessDispatcher;

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name));
  return out;
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "expo-bot-int-"));
  const card = { license: "apache-2.0" };
  await writeDemoModels({ dir: root, sftCard: card, alignedCard: { ...card, base_model: "org/sft", tags: ["expo"] }, unrelatedCard: { ...card, base_model: "org/sft", tags: ["expo"] } });
  // The search needs ≥ 10 shared prompts before it calls a gain significant.
  const prompts = demoPrompts(16);
  await writeFile(join(root, "prompts.jsonl"), prompts.map((prompt) => JSON.stringify({ prompt })).join("\n"));
  // The reward model is a Hub id: the job downloads it with θ0 and θ1.
  const searchArgs = ["--reward-model", "org/reward", "--prompts", join(root, "prompts.jsonl"), "--max-new-tokens", "16", "--strategy", "grid", "--alphas", "0.5,1"];
  hub = await startLocalHub({ lfsThreshold: 1024 });
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("org/sft", { files: await folderFiles(join(root, "sft")) });
  hub.admin.createRepo("org/dpo", { files: await folderFiles(join(root, "aligned")) });
  hub.admin.createRepo("org/other", { files: await folderFiles(join(root, "unrelated")) });
  hub.admin.createRepo("org/reward", { files: await folderFiles(join(root, "reward")) });
  const settings = { hubUrl: hub.url, token: TOKEN, sleep: async () => {}, retry: { maxRetries: 2 } };
  const client = createHubClient(settings);

  dispatcher = new InProcessDispatcher(async (request, run) => {
    const req = parseJobRequest(JSON.stringify(request));
    const out = join(root, "jobs", `${req.requestId}-${run.runId}`);
    const results = await runJob({ request: req, out, steps: defaultSteps({ hub: settings, namespace: "expo-bot", searchArgs }) });
    return JSON.stringify(results);
  });
  ledger = new Ledger(join(root, "ledger.sqlite"));
  issues = new FakeIssues();
  bot = createExpoApp({
    config: makeConfig({ homeRepo: "org/home", hubWebhookSecret: SECRET, botNamespace: "expo-bot", hubUrl: hub.url }),
    ledger,
    hub: hubAdapter(client),
    precheck: hubPrecheck(settings),
    discussions: hubDiscussions(client),
    renderer: publishRenderer({ hubUrl: hub.url }),
    issues,
    dispatcher,
    reconcileOnStart: false,
  });
  const probot = new Probot({ githubToken: "unused", logLevel: "fatal" });
  const handlers: Handler[] = [];
  await probot.load(bot.appFn, { cwd: process.cwd(), addHandler: (h) => handlers.push(h) });
  dispatcher.onCompleted = (run) => bot.service!.onRunCompleted(run);
  server = createServer(async (req, res) => {
    for (const h of handlers) if (await h(req, res)) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  bot?.stop();
  await new Promise((r) => server?.close(r));
  ledger?.close();
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

const deliver = (repo: string, sha: string) =>
  fetch(`${url}/api/hub/webhooks`, { method: "POST", headers: { "x-webhook-secret": SECRET, "content-type": "application/json" }, body: JSON.stringify(hubPayload(repo, sha)) });

describe("Hub webhook to published model, through the local Hub", () => {
  it("publishes org/dpo-ExPO and reports in θ1's Hub thread and the tracking issue", async () => {
    const client = createHubClient({ hubUrl: hub.url, token: TOKEN });
    const sha = (await getModelInfo({ client, repo: "org/dpo" })).sha;
    expect((await deliver("org/dpo", sha)).status).toBe(202);
    expect((await deliver("org/dpo", sha)).status).toBe(202); // a replay: ignored
    await until(() => ["published", "no-gain", "failed", "refused"].includes(ledger.all()[0]?.state ?? ""));
    await dispatcher.idle();
    const r = ledger.all()[0];
    expect(ledger.all()).toHaveLength(1);
    expect(r).toMatchObject({ state: "published", theta1: "org/dpo", theta1Sha: sha, theta0: "org/sft", source: "hub-webhook", requester: "hub:org" });
    // The demo pair's reward really rises with α (src/synthetic/demo-models.ts).
    expect(r.result).toMatchObject({ outcome: "published", published: { repo: "expo-bot/dpo-ExPO" } });
    expect([0.5, 1]).toContain(r.result!.chosenAlpha);
    expect(r.result!.alphas.map((a) => a.alpha)).toEqual([0, 0.5, 1]);
    expect(r.result!.alphas[1].delta).toBeGreaterThan(0);
    const out = await getModelInfo({ client, repo: "expo-bot/dpo-ExPO" });
    expect(out.sha).toBe(r.result!.published!.commit);
    expect(out.baseModels).toEqual(["org/dpo", "org/sft"]);
    expect(out.tags).toEqual(expect.arrayContaining(["expo", "merge"]));

    const thread = hub.admin.discussions("org/dpo");
    expect(thread).toHaveLength(1);
    const bodies = thread[0].events.map((e: any) => String(e.content ?? e.data?.latest?.raw ?? ""));
    expect(bodies.some((b: string) => b.startsWith(`<!-- expo-bot:received:${r.id} -->`))).toBe(true);
    expect(bodies.some((b: string) => b.startsWith(`<!-- expo-bot:result:${r.id} -->`) && b.includes("expo-bot/dpo-ExPO"))).toBe(true);
    expect(issues.comments.map((c) => c.body.slice(0, 30))).toEqual([expect.stringContaining("received"), expect.stringContaining("result")]);
    expect(issues.issues[0]).toMatchObject({ state: "closed", labels: ["expo-tracking"] });
  });

  it("refuses an unrelated pair with checkPair's reasons, before any job", async () => {
    const client = createHubClient({ hubUrl: hub.url, token: TOKEN });
    const sha = (await getModelInfo({ client, repo: "org/other" })).sha;
    expect((await deliver("org/other", sha)).status).toBe(202);
    // The refusal is recorded first, then commented: wait for the comment.
    await until(() => (hub.admin.discussions("org/other")[0]?.events.length ?? 0) > 0);
    const r = ledger.all().find((x) => x.theta1 === "org/other")!;
    expect(r.state).toBe("refused");
    expect(r.reasons.length).toBeGreaterThan(0);
    expect(ledger.events(r.id).map((e) => e.to)).toEqual(["received", "refused"]);
    const thread = hub.admin.discussions("org/other");
    const bodies = thread[0].events.map((e: any) => String(e.content ?? e.data?.latest?.raw ?? ""));
    expect(bodies.some((b: string) => b.startsWith(`<!-- expo-bot:refused:${r.id} -->`))).toBe(true);
  });
});
