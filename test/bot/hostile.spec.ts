/**
 * Hostile and malformed input at the bot's edges, each answered the way docs/bot.md's fault
 * table says: the Hub route over a real 127.0.0.1 server, results.json artifacts that claim
 * more than their request, webhook secrets that only look random, `/expo` text.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { hubWebhookHandler, validateHubPayload } from "../../src/bot/hub-webhook.js";
import type { RequestCandidate } from "../../src/bot/types.js";
import { assertRealSecret, makeConfig, type BotConfig } from "../../src/bot/config.js";
import { InProcessDispatcher } from "../../src/bot/dispatch.js";
import { Ledger } from "../../src/bot/ledger.js";
import { parseExpoCommand, parseIssueForm } from "../../src/bot/request.js";
import { ExpoService } from "../../src/bot/service.js";
import { ZipError } from "../../src/bot/zip.js";
import type { ExpoResults } from "../../src/job/results.js";
import { FakeDiscussions, FakeIssues, pairHub, passingPrecheck, resultsFor, SHA1, type FakeHub } from "./doubles.js";
import { hubPayload } from "./fixtures.js";

const SECRET = "hub-secret-0123456789abcdef";

let server: Server | null = null;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = null;
});

async function hubRoute(): Promise<{ url: string; candidates: RequestCandidate[] }> {
  const candidates: RequestCandidate[] = [];
  const handler = hubWebhookHandler({ path: "/api/hub/webhooks", secret: SECRET, onCandidate: async (c) => candidates.push(c) });
  server = createServer(async (req, res) => {
    if (!(await handler(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/hub/webhooks`, candidates };
}

const post = (url: string, body: unknown, secret = SECRET) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-webhook-secret": secret }, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("the Hub route refuses malformed and hostile payloads", () => {
  it("answers 400 naming the field for wrong-typed fields, and never makes a candidate of them", async () => {
    const { url, candidates } = await hubRoute();
    const base = hubPayload("alice/chat-dpo", SHA1);
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, event: { action: 5, scope: "repo.content" } }, /event\.action/],
      [{ ...base, event: "repo" }, /event:/],
      [{ ...base, repo: { ...base.repo, name: ["alice/chat-dpo"] } }, /repo\.name/],
      [{ ...base, repo: { ...base.repo, headSha: 42 } }, /repo\.headSha/],
      [{ ...base, repo: { ...base.repo, tags: "expo" } }, /repo\.tags/],
      [{ ...base, repo: { ...base.repo, private: "no" } }, /repo\.private/],
      [{ ...base, updatedRefs: [{ ref: 1 }] }, /updatedRefs/],
      [[1, 2], /body/],
    ];
    for (const [body, field] of cases) {
      const res = await post(url, body);
      expect(res.status).toBe(400);
      expect((await res.json()).message).toMatch(field);
    }
    expect(candidates).toEqual([]);
  });

  it("refuses a repository name that is not OWNER/NAME: traversal, URL-encoding, extra segments, a query", async () => {
    const { url, candidates } = await hubRoute();
    for (const name of ["../../api/whoami-v2", "alice/../../settings", "alice/chat%2F..%2Fx", "alice/chat/resolve/main", "alice/chat?x=1", "alice/..", "/alice/chat", "alice\\chat"]) {
      const body = hubPayload("alice/chat-dpo", SHA1);
      (body.repo as { name: string }).name = name;
      expect(validateHubPayload(body).join()).toMatch(/repo\.name/);
      const res = await post(url, body);
      expect(res.status).toBe(400);
    }
    expect(candidates).toEqual([]);
  });

  it("sends the 413 for an oversized body to the client instead of resetting the connection", async () => {
    const { url, candidates } = await hubRoute();
    const huge = JSON.stringify({ ...hubPayload("alice/chat-dpo", SHA1), pad: "x".repeat(2 * 1024 * 1024) });
    const res = await post(url, huge);
    expect(res.status).toBe(413);
    // Chunked (no content-length): the same answer.
    const { port } = new URL(url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/api/hub/webhooks", method: "POST", headers: { "x-webhook-secret": SECRET, "transfer-encoding": "chunked" } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 40; i++) req.write("y".repeat(64 * 1024));
      req.end();
    });
    expect(status).toBe(413);
    // A wrong secret with a body: the 403 arrives too.
    expect((await post(url, huge, "wrong")).status).toBe(403);
    expect(candidates).toEqual([]);
  });
});

// ── results.json, ingestion errors, quotas, /expo text, secrets ───────────────────────────


/** The bot with an in-process job whose results.json text (or download) the test decides. */
function bot(job: (request: { requestId: string }) => string, opts: { hub?: FakeHub; config?: Partial<BotConfig>; dispatcher?: (d: InProcessDispatcher) => void } = {}) {
  const ledger = new Ledger(":memory:");
  const issues = new FakeIssues();
  const discussions = new FakeDiscussions();
  const dispatcher = new InProcessDispatcher(async (request) => job(request as { requestId: string }));
  opts.dispatcher?.(dispatcher);
  const service = new ExpoService({
    config: makeConfig({ homeRepo: "expo-org/expo-bot", botNamespace: "expo-bot", ...opts.config }),
    ledger,
    hub: opts.hub ?? pairHub(),
    precheck: passingPrecheck(),
    issues,
    discussions,
    dispatcher,
  });
  dispatcher.onCompleted = (run) => service.onRunCompleted(run);
  return { ledger, issues, discussions, dispatcher, service };
}

const candidate = { source: "hub-webhook" as const, theta1: "alice/chat-dpo", theta1Revision: SHA1, requester: "hub:alice" };
const everything = (b: ReturnType<typeof bot>) => [...b.issues.comments.map((c) => c.body), ...b.discussions.posts.map((p) => p.body)].join("\n");

describe("results.json speaks only for its own request", () => {
  type Edit = (x: ExpoResults) => void;
  const cases: Array<[string, Edit, RegExp]> = [
    ["a repository outside the bot's namespace", (x) => (x.published = { ...x.published!, repo: "mallory/chat-dpo-ExPO", url: "https://huggingface.co/mallory/chat-dpo-ExPO" }), /namespace/],
    ["a repository that is not an ExPO output", (x) => (x.published = { ...x.published!, repo: "expo-bot/free-prizes", url: "https://huggingface.co/expo-bot/free-prizes" }), /ExPO output name/],
    ["a phishing URL", (x) => (x.published = { ...x.published!, url: "https://evil.example/login" }), /published\.url/],
    ["a commit that is not a sha", (x) => (x.published = { ...x.published!, commit: "main" }), /published\.commit/],
    ["a remote tracking image as plot", (x) => (x.plot = "https://evil.example/pixel.png"), /plot/],
    ["a plot path escaping the repository", (x) => (x.plot = "../../other/repo/x.png"), /plot/],
    ["another θ1", (x) => (x.theta1 = { repo: "bob/other", sha: SHA1 }), /theta1/],
    ["another θ0 revision", (x) => (x.theta0 = { ...x.theta0, sha: "c".repeat(40) }), /theta0/],
    ["a pinned α the request did not pin", (x) => (x.pinnedAlpha = 0.5), /pinnedAlpha/],
  ];
  it.each(cases)("refuses %s: the request fails, the requester is told, nothing of it is repeated", async (_name, edit, field) => {
    let sent = "";
    const b = bot((req) => {
      const r = b.ledger.get(req.requestId)!;
      const x = resultsFor(r);
      edit(x);
      sent = JSON.stringify(x);
      return sent;
    });
    await b.service.intake(candidate);
    await b.dispatcher.idle();
    const r = b.ledger.all()[0];
    expect(r.state).toBe("failed");
    expect(r.result).toBeNull();
    const said = everything(b);
    expect(said).toMatch(/does not answer this request/);
    expect(said).toMatch(field);
    expect(said).not.toMatch(/evil\.example|free-prizes\]\(|mallory\/chat-dpo-ExPO\]\(/);
  });

  it("accepts the honest artifact, plot included", async () => {
    const b = bot((req) => {
      const x = resultsFor(b.ledger.get(req.requestId)!);
      x.plot = `https://huggingface.co/${x.published!.repo}/resolve/${x.published!.commit}/alpha-curve.png`;
      return JSON.stringify(x);
    });
    await b.service.intake(candidate);
    await b.dispatcher.idle();
    expect(b.ledger.all()[0].state).toBe("published");
  });
});

describe("ingestion errors end", () => {
  it("an oversized or corrupt artifact fails the request at once and tells the requester", async () => {
    const b = bot(() => "{}", {
      dispatcher: (d) => (d.downloadResults = async () => Promise.reject(new ZipError("results.json is 20000000 bytes; the limit is 16777216"))),
    });
    await b.service.intake(candidate);
    await b.dispatcher.idle();
    const r = b.ledger.all()[0];
    expect(r.state).toBe("failed");
    expect(everything(b)).toMatch(/20000000 bytes/);
    // Reconciliation does not download it again.
    let downloads = 0;
    b.dispatcher.downloadResults = async () => (downloads++, null);
    await b.service.reconcile();
    expect(downloads).toBe(0);
  });

  it("a transient error is retried by reconciliation, then after 3 tries the requester is told", async () => {
    let downloads = 0;
    const b = bot(() => "{}", {
      dispatcher: (d) =>
        (d.downloadResults = async () => {
          downloads++;
          throw Object.assign(new Error("GitHub answered 502"), { status: 502 });
        }),
    });
    b.dispatcher.onCompleted = (run) => b.service.onRunCompleted(run).catch(() => {});
    await b.service.intake(candidate);
    await b.dispatcher.idle();
    expect(b.ledger.all()[0].state).toBe("dispatched");
    expect(downloads).toBe(1);
    await b.service.reconcile();
    expect(b.ledger.all()[0].state).toBe("dispatched");
    await b.service.reconcile();
    expect(downloads).toBe(3);
    const r = b.ledger.all()[0];
    expect(r.state).toBe("failed");
    expect(everything(b)).toMatch(/could not be read after 3 tries/);
    expect(everything(b)).toMatch(/GitHub answered 502/);
  });
});

describe("quotas on Hub requests", () => {
  it("records a Hub request over quota as refused and tells the requester on θ1's thread", async () => {
    const hub = pairHub().add("alice/second-dpo", "d".repeat(40), { base_model: "alice/chat-sft", tags: ["expo"] }, ["expo"]);
    const b = bot((req) => JSON.stringify(resultsFor(b.ledger.get(req.requestId)!)), { hub, config: { quotaPerRequester: 1 } });
    await b.service.intake(candidate);
    await b.dispatcher.idle();
    // The payload's spelling of the owner does not make a new requester.
    const out = await b.service.intake({ source: "hub-webhook", theta1: "alice/second-dpo", requester: "hub:ALICE" });
    expect(out.status).toBe("accepted");
    const second = b.ledger.all().find((r) => r.theta1 === "alice/second-dpo")!;
    expect(second).toMatchObject({ state: "refused", requester: "hub:alice" });
    expect(second.reasons.join()).toMatch(/quota exceeded/);
    expect(b.discussions.posts.filter((p) => p.repo === "alice/second-dpo").map((p) => p.body).join()).toMatch(/quota exceeded/);
  });
});

describe("/expo and issue-form text quoted back", () => {
  it("is escaped: no code span to break out of, no link, image, mention or HTML", () => {
    const hostile = "x`](https://evil.example)![t](https://evil.example/p.png)<img src=x>@everyone";
    const replies = [
      parseExpoCommand(`/expo ${hostile.replace(/\s/g, "")}`),
      parseExpoCommand(`/expo alice/chat parent ${hostile}`),
      parseExpoCommand(`/expo alice/chat alpha ${hostile}`),
      parseExpoCommand(`/expo alice/chat ${hostile} 1`),
      parseIssueForm(`### Aligned model\n\n${hostile}\n`),
    ].map((r) => (r as { error: string }).error);
    for (const reply of replies) {
      expect(reply).toBeTruthy();
      expect(reply).not.toMatch(/\]\(https:\/\/evil|<img|@everyone|!\[t\]\(/);
      expect(reply).not.toContain("x`]");
    }
  });
});

describe("webhook secrets", () => {
  it("refuses long secrets that are not random", () => {
    expect(() => assertRealSecret("HF_WEBHOOK_SECRET", "a".repeat(16))).toThrow(/distinct characters/);
    expect(() => assertRealSecret("HF_WEBHOOK_SECRET", "abab".repeat(8))).toThrow(/distinct characters/);
    expect(() => assertRealSecret("HF_WEBHOOK_SECRET", "abcdefgh".repeat(3))).toThrow(/pattern repeated/);
    expect(assertRealSecret("HF_WEBHOOK_SECRET", "9f86d081884c7d65")).toBe("9f86d081884c7d65");
  });
});