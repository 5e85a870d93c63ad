/**
 * The bot with its production seams against the local Hub (src/hub-server) and the real
 * @huggingface/hub client: Hub webhook → intake (model info, safetensors parameter count) →
 * checkPair precheck → in-process job (download, full check, extrapolate, publish to the
 * local Hub) → results.json → comments in θ1's Hub thread, rendered by src/publish.
 * Only the α search is replaced (by a fixed search.json): generation and scoring have their
 * own tests, and the lead's end-to-end run covers them with tiny models.
 */
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
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
import { deriveTinyModel, writeTinyModel } from "../../src/synthetic/tiny-model.js";
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

/** Stands in for `expo-bot search`: writes the report the publisher reads. */
async function fakeSearch(argv: string[]): Promise<number> {
  const out = argv[argv.indexOf("--out") + 1];
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, "search.json"),
    JSON.stringify({
      strategy: "grid",
      chosenAlpha: 0.3,
      rows: [
        { alpha: 0, meanReward: 1.0, delta: 0, winRate: 0.5, meanLength: 40, n: 16 },
        { alpha: 0.3, meanReward: 1.3, delta: 0.3, deltaCi: [0.1, 0.5], winRate: 0.7, meanLength: 42, n: 16 },
      ],
    }),
  );
  return 0;
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
  await writeTinyModel({ dir: join(root, "sft"), seed: 3, card: { license: "apache-2.0", tags: ["chat"] } });
  await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "dpo"), relativeDelta: 0.01, card: { license: "apache-2.0", base_model: "org/sft", tags: ["expo"] } });
  await writeTinyModel({ dir: join(root, "other"), seed: 42, card: { license: "apache-2.0", base_model: "org/sft", tags: ["expo"] } });
  hub = await startLocalHub({ lfsThreshold: 1024 });
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("org/sft", { files: await folderFiles(join(root, "sft")) });
  hub.admin.createRepo("org/dpo", { files: await folderFiles(join(root, "dpo")) });
  hub.admin.createRepo("org/other", { files: await folderFiles(join(root, "other")) });
  const settings = { hubUrl: hub.url, token: TOKEN, sleep: async () => {}, retry: { maxRetries: 2 } };
  const client = createHubClient(settings);

  dispatcher = new InProcessDispatcher(async (request, run) => {
    const req = parseJobRequest(JSON.stringify(request));
    const out = join(root, "jobs", `${req.requestId}-${run.runId}`);
    const results = await runJob({ request: req, out, steps: defaultSteps({ hub: settings, namespace: "expo-bot", runSearch: fakeSearch }) });
    return JSON.stringify(results);
  });
  ledger = new Ledger(join(root, "ledger.sqlite"));
  issues = new FakeIssues();
  bot = createExpoApp({
    config: makeConfig({ homeRepo: "org/home", hubWebhookSecret: SECRET, botNamespace: "expo-bot" }),
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
    expect(r.result).toMatchObject({ outcome: "published", chosenAlpha: 0.3, published: { repo: "expo-bot/dpo-ExPO" } });
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
