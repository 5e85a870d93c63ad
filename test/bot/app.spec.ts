/**
 * The Probot app end to end at the HTTP/event level: Probot with nock for GitHub (the Probot
 * testing convention), real payloads from @octokit/webhooks-examples, the Hub route over a
 * real 127.0.0.1 server, and the Hub behind a test double.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import nock from "nock";
import { Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createExpoApp, type ExpoApp } from "../../src/bot/app.js";
import { makeConfig, type BotConfig } from "../../src/bot/config.js";
import { Ledger } from "../../src/bot/ledger.js";
import type { IncomingMessage, ServerResponse } from "node:http";
type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;
import { writeZip } from "../../src/bot/zip.js";
import { FakeDiscussions, pairHub, passingPrecheck, resultsFor, SHA1, type FakeHub } from "./doubles.js";
import { hubPayload, issueCommentPayload, issueOpenedPayload, workflowRunPayload } from "./fixtures.js";

const HOME = "expo-org/expo-bot";
const API = "https://api.github.com";
const HUB_SECRET = "hub-secret-0123456789abcdef";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });

interface Harness {
  probot: Probot;
  bot: ExpoApp;
  ledger: Ledger;
  hub: FakeHub;
  discussions: FakeDiscussions;
  url: string;
  server: Server;
}

async function harness(config: Partial<BotConfig> = {}, hub: FakeHub = pairHub()): Promise<Harness> {
  const probot = new Probot({
    appId: 123,
    privateKey,
    logLevel: "fatal",
    // The Probot testing convention is ProbotOctokit.defaults({ retry: { enabled: false }, throttle: { enabled: false } });
    // in Probot 14 the app's own throttle options (always set) override an object default, and
    // the throttle then spaces writes 1 s apart. A function default runs last and really disables it.
    Octokit: ProbotOctokit.defaults((o: Record<string, any>) => ({ ...o, retry: { enabled: false }, throttle: { ...o?.throttle, enabled: false } })),
  });
  const ledger = new Ledger(":memory:");
  const discussions = new FakeDiscussions();
  const bot = createExpoApp({
    config: makeConfig({ homeRepo: HOME, installationId: 2, hubWebhookSecret: HUB_SECRET, ...config }),
    ledger,
    hub,
    precheck: passingPrecheck(),
    discussions,
    reconcileOnStart: false,
  });
  const handlers: Handler[] = [];
  await probot.load(bot.appFn, { cwd: process.cwd(), addHandler: (h) => handlers.push(h) });
  const server = createServer(async (req, res) => {
    for (const h of handlers) if (await h(req, res)) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { probot, bot, ledger, hub, discussions, url, server };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function token() {
  return nock(API).post("/app/installations/2/access_tokens").reply(201, { token: "ghs_test", permissions: { issues: "write", actions: "write" } }).persist();
}

let h: Harness;
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
});
afterAll(() => {
  nock.enableNetConnect();
});
beforeEach(() => {
  nock.cleanAll();
});
afterEach(async () => {
  h?.bot.stop();
  await new Promise((r) => h?.server.close(r));
  h?.ledger.close();
});

describe("Hub webhook route", () => {
  it("answers 401 without the secret, 403 with a wrong one, 405 for GET, and 202 at once otherwise", async () => {
    h = await harness({}, pairHub().add("bob/plain", SHA1, {}));
    const post = (headers: Record<string, string>, body: unknown = hubPayload("bob/plain", SHA1, [])) =>
      fetch(`${h.url}/api/hub/webhooks`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    expect((await post({})).status).toBe(401);
    expect((await post({ "x-webhook-secret": "wrong" })).status).toBe(403);
    expect((await post({ "x-webhook-secret": HUB_SECRET.slice(0, -1) })).status).toBe(403);
    expect((await fetch(`${h.url}/api/hub/webhooks`)).status).toBe(405);
    const ok = await post({ "x-webhook-secret": HUB_SECRET });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toMatchObject({ message: "accepted" });
    const discussion = await post({ "x-webhook-secret": HUB_SECRET }, { ...hubPayload("bob/plain", SHA1), event: { action: "create", scope: "discussion" } });
    expect(await discussion.json()).toMatchObject({ message: "ignored" });
    expect((await fetch(`${h.url}/elsewhere`)).status).toBe(404);
  });

  it("turns duplicate and concurrent deliveries of a tagged model into one tracking issue and one dispatch", async () => {
    h = await harness();
    token();
    const issue = nock(API).post(`/repos/${HOME}/issues`, (b) => b.labels.includes("expo-tracking") && b.title.includes("alice/chat-dpo")).reply(201, { number: 5 });
    const received = nock(API).post(`/repos/${HOME}/issues/5/comments`, (b) => /received/.test(b.body)).reply(201, {});
    const dispatch = nock(API)
      .post(`/repos/${HOME}/actions/workflows/expo-job.yml/dispatches`, (b) => b.return_run_details === true && b.ref === "main" && b.inputs.theta1 === "alice/chat-dpo" && b.inputs.theta1_sha === SHA1 && /^expo-/.test(b.inputs.request_id))
      .reply(200, { workflow_run_id: 4242, run_url: `${API}/repos/${HOME}/actions/runs/4242`, html_url: `https://github.com/${HOME}/actions/runs/4242` });
    const body = JSON.stringify(hubPayload("alice/chat-dpo", SHA1));
    const send = (b: string) => fetch(`${h.url}/api/hub/webhooks`, { method: "POST", headers: { "x-webhook-secret": HUB_SECRET }, body: b });
    const other = JSON.stringify({ ...hubPayload("alice/chat-dpo", SHA1), webhook: { id: "another-webhook", version: 3 } });
    const answers = await Promise.all([send(body), send(body), send(body), send(other)]);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    await until(() => h.ledger.all()[0]?.runId === 4242);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.ledger.all()).toHaveLength(1);
    expect(issue.isDone() && received.isDone() && dispatch.isDone()).toBe(true);
    expect(h.discussions.posts).toHaveLength(1);
  });
});

describe("/expo and the issue form", () => {
  it("tells an unauthorised user why, and starts nothing", async () => {
    h = await harness();
    token();
    nock(API).get(`/repos/${HOME}/collaborators/Codertocat/permission`).reply(200, { permission: "read", role_name: "read" });
    const reply = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /cannot request ExPO runs here/.test(b.body) && /write access/.test(b.body)).reply(201, {});
    await h.probot.receive({ id: "d-unauth", name: "issue_comment", payload: issueCommentPayload(HOME, "/expo alice/chat-dpo") });
    expect(reply.isDone()).toBe(true);
    expect(h.ledger.all()).toHaveLength(0);
  });

  it("takes /expo from a writer: received on the issue, dispatch, then the result from the artifact", async () => {
    h = await harness();
    token();
    nock(API).get(`/repos/${HOME}/collaborators/Codertocat/permission`).reply(200, { permission: "write", role_name: "write" });
    const received = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /received/.test(b.body)).reply(201, {});
    nock(API).post(`/repos/${HOME}/actions/workflows/expo-job.yml/dispatches`).reply(200, { workflow_run_id: 77, html_url: "https://github.com/x/actions/runs/77" });
    await h.probot.receive({ id: "d-ok", name: "issue_comment", payload: issueCommentPayload(HOME, "Please run it.\n/expo alice/chat-dpo parent alice/chat-sft") });
    expect(received.isDone()).toBe(true);
    const r = h.ledger.all()[0];
    expect(r).toMatchObject({ state: "dispatched", runId: 77, trackingIssue: 1, source: "github-comment", requester: "github:codertocat" });

    // The run completes: the artifact is downloaded, validated, and reported once.
    const zip = writeZip({ "results.json": JSON.stringify(resultsFor(r)) });
    nock(API)
      .get(`/repos/${HOME}/actions/runs/77/artifacts`)
      .query(true)
      .reply(200, { total_count: 1, artifacts: [{ id: 9, name: "results", expired: false, created_at: "2026-01-01T00:00:00Z" }] });
    nock(API).get(`/repos/${HOME}/actions/artifacts/9/zip`).reply(302, undefined, { location: "https://results.blob.example/zip" });
    nock("https://results.blob.example").get("/zip").reply(200, zip, { "content-type": "application/zip" });
    const result = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /ExPO result: published/.test(b.body)).reply(201, {});
    const payload = workflowRunPayload(HOME, { id: 77, attempt: 1, conclusion: "success", title: `ExPO ${r.id}` });
    await h.probot.receive({ id: "d-run", name: "workflow_run", payload });
    await h.probot.receive({ id: "d-run-again", name: "workflow_run", payload });
    expect(result.isDone()).toBe(true);
    expect(h.ledger.get(r.id)!.state).toBe("published");
    expect(h.discussions.posts.map((p) => p.repo)).toEqual(["alice/chat-dpo"]);
  });

  it("answers an exceeded quota on the issue", async () => {
    h = await harness({ quotaPerRequester: 0 });
    token();
    nock(API).get(`/repos/${HOME}/collaborators/Codertocat/permission`).reply(200, { permission: "admin", role_name: "admin" });
    const reply = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /quota exceeded: codertocat has made 0 requests/.test(b.body)).reply(201, {});
    await h.probot.receive({ id: "d-quota", name: "issue_comment", payload: issueCommentPayload(HOME, "/expo alice/chat-dpo") });
    expect(reply.isDone()).toBe(true);
    expect(h.ledger.all()).toHaveLength(0);
  });

  it("takes the issue form from a listed user, falls back to run-name correlation, and retries an infrastructure failure", async () => {
    h = await harness({ allowedUsers: ["codertocat"] });
    token();
    const body = "### Aligned model (θ1)\n\nalice/chat-dpo\n\n### SFT parent (θ0)\n\nalice/chat-sft\n\n### Alpha (optional)\n\n_No response_\n";
    nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /received/.test(b.body)).reply(201, {});
    // An older GitHub that does not know return_run_details: dispatch again without it, then find the run.
    nock(API).post(`/repos/${HOME}/actions/workflows/expo-job.yml/dispatches`, (b) => b.return_run_details === true).reply(422, { message: "Invalid request. \"return_run_details\" is not a permitted key." });
    nock(API).post(`/repos/${HOME}/actions/workflows/expo-job.yml/dispatches`, (b) => b.return_run_details === undefined).reply(204);
    nock(API)
      .get(`/repos/${HOME}/actions/workflows/expo-job.yml/runs`)
      .query(true)
      .reply(200, () => {
        const id = h.ledger.all()[0].id;
        return { total_count: 2, workflow_runs: [{ id: 1, display_title: "ExPO expo-000000000000", status: "queued", conclusion: null, run_attempt: 1 }, { id: 88, display_title: `ExPO ${id}`, status: "queued", conclusion: null, run_attempt: 1 }] };
      });
    await h.probot.receive({ id: "d-form", name: "issues", payload: issueOpenedPayload(HOME, body) });
    const r = h.ledger.all()[0];
    expect(r).toMatchObject({ state: "dispatched", runId: 88, trackingIssue: 1, source: "github-issue", theta0: "alice/chat-sft" });

    // The runner is lost mid-job: the jobs API shows no failed step → one automatic re-run.
    nock(API)
      .get(`/repos/${HOME}/actions/runs/88/attempts/1/jobs`)
      .query(true)
      .reply(200, { total_count: 1, jobs: [{ name: "expo", conclusion: "failure", steps: [{ name: "Set up job", conclusion: "success" }, { name: "Run ExPO job", conclusion: null, status: "in_progress" }] }] });
    const failed = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /job failed[\s\S]*retrying once/.test(b.body)).reply(201, {});
    const rerun = nock(API).post(`/repos/${HOME}/actions/runs/88/rerun-failed-jobs`).reply(201, {});
    await h.probot.receive({ id: "d-fail-1", name: "workflow_run", payload: workflowRunPayload(HOME, { id: 88, attempt: 1, conclusion: "failure", title: `ExPO ${r.id}` }) });
    expect(failed.isDone() && rerun.isDone()).toBe(true);
    expect(h.ledger.get(r.id)).toMatchObject({ state: "dispatched", retries: 1, runAttempt: 2 });

    // The second attempt fails in the job itself: reported, not retried, issue closed.
    nock(API)
      .get(`/repos/${HOME}/actions/runs/88/attempts/2/jobs`)
      .query(true)
      .reply(200, { total_count: 1, jobs: [{ name: "expo", conclusion: "failure", steps: [{ name: "Run ExPO job", conclusion: "failure" }] }] });
    const final = nock(API).post(`/repos/${HOME}/issues/1/comments`, (b) => /job failed/.test(b.body) && !/retrying/.test(b.body)).reply(201, {});
    const close = nock(API).patch(`/repos/${HOME}/issues/1`, { state: "closed", state_reason: "not_planned" }).reply(200, {});
    await h.probot.receive({ id: "d-fail-2", name: "workflow_run", payload: workflowRunPayload(HOME, { id: 88, attempt: 2, conclusion: "failure", title: `ExPO ${r.id}` }) });
    expect(final.isDone() && close.isDone()).toBe(true);
    expect(h.ledger.get(r.id)!.state).toBe("failed");
  });

  it("ignores events from other repositories, bots and other workflows", async () => {
    h = await harness();
    await h.probot.receive({ id: "x1", name: "issue_comment", payload: issueCommentPayload("someone/else", "/expo alice/chat-dpo") });
    const bot = issueCommentPayload(HOME, "/expo alice/chat-dpo");
    bot.sender.type = "Bot";
    await h.probot.receive({ id: "x2", name: "issue_comment", payload: bot });
    const ci = workflowRunPayload(HOME, { id: 5, attempt: 1, conclusion: "success", title: "CI" });
    ci.workflow_run.path = ".github/workflows/ci.yml";
    await h.probot.receive({ id: "x3", name: "workflow_run", payload: ci });
    expect(h.ledger.all()).toHaveLength(0);
    expect(nock.pendingMocks()).toEqual([]);
  });
});
