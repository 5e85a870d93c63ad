import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeConfig, type BotConfig } from "../../src/bot/config.js";
import { InProcessDispatcher } from "../../src/bot/dispatch.js";
import { Ledger, TransitionError } from "../../src/bot/ledger.js";
import { pollOnce } from "../../src/bot/poller.js";
import { ExpoService } from "../../src/bot/service.js";
import { publishRenderer } from "../../src/bot/wiring.js";
import type { Dispatcher, RequestRecord, RunInfo, RunRef } from "../../src/bot/types.js";
import { FakeDiscussions, FakeIssues, FakeHub, pairHub, passingPrecheck, resultsFor, SHA0, SHA1 } from "./doubles.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmpLedgerPath(): string {
  const d = mkdtempSync(join(tmpdir(), "expo-ledger-"));
  dirs.push(d);
  return join(d, "ledger.sqlite");
}

/** Records dispatches; runs complete only when the test says so. */
class RecordingDispatcher implements Dispatcher {
  dispatched: RequestRecord[] = [];
  retried: RunRef[] = [];
  results = new Map<string, string>();
  failure: { kind: "infrastructure" | "job"; detail: string } = { kind: "job", detail: 'step "Run ExPO job" failed' };
  runs = new Map<string, RunInfo>();
  returnRunId = true;
  async dispatch(r: RequestRecord): Promise<RunInfo | null> {
    this.dispatched.push(r);
    const run = { runId: 500 + this.dispatched.length, attempt: 1, status: "queued", conclusion: null };
    this.runs.set(r.id, run);
    return this.returnRunId ? run : null;
  }
  async retry(_r: RequestRecord, run: RunRef): Promise<RunInfo | null> {
    this.retried.push(run);
    return { runId: run.runId, attempt: run.attempt + 1, status: "queued", conclusion: null };
  }
  async findRun(r: RequestRecord): Promise<RunInfo | null> {
    return this.runs.get(r.id) ?? null;
  }
  async downloadResults(run: RunRef): Promise<string | null> {
    return this.results.get(`${run.runId}:${run.attempt}`) ?? null;
  }
  async classifyFailure() {
    return this.failure;
  }
}

function setup(opts: { hub?: FakeHub; config?: Partial<BotConfig>; ledgerPath?: string; dispatcher?: Dispatcher; precheck?: ReturnType<typeof passingPrecheck>; now?: () => number } = {}) {
  const hub = opts.hub ?? pairHub();
  const ledger = new Ledger(opts.ledgerPath ?? ":memory:", { now: opts.now });
  const issues = new FakeIssues();
  const discussions = new FakeDiscussions();
  const dispatcher = opts.dispatcher ?? new RecordingDispatcher();
  const precheck = opts.precheck ?? passingPrecheck();
  const config = makeConfig({ homeRepo: "expo-org/expo-bot", ...opts.config });
  const service = new ExpoService({ config, ledger, hub, precheck, issues, discussions, dispatcher, now: opts.now });
  return { hub, ledger, issues, discussions, dispatcher, precheck, service, config };
}

const hubCandidate = (deliveryId?: string) => ({ source: "hub-webhook" as const, theta1: "alice/chat-dpo", theta1Revision: SHA1, requester: "hub:alice", deliveryId });

describe("intake", () => {
  it("records, tracks, prechecks and dispatches a tagged model once", async () => {
    const { service, issues, discussions, dispatcher, precheck, ledger } = setup();
    const out = await service.intake(hubCandidate("d1"));
    expect(out.status).toBe("accepted");
    const r = ledger.all()[0];
    expect(r).toMatchObject({ state: "dispatched", theta0: "alice/chat-sft", theta0Sha: SHA0, theta1Sha: SHA1, runId: 501, trackingIssue: 100 });
    expect(precheck.calls).toEqual([{ theta1: "alice/chat-dpo", theta1Sha: SHA1, theta0: "alice/chat-sft", theta0Sha: SHA0 }]);
    expect((dispatcher as RecordingDispatcher).dispatched).toHaveLength(1);
    expect(issues.issues[0].title).toContain(r.id);
    expect(issues.comments.map((c) => c.body)).toEqual([expect.stringContaining("received")]);
    expect(discussions.posts).toHaveLength(1);
    expect(ledger.events(r.id).map((e) => e.to)).toEqual(["received", "prechecked", "dispatched"]);
  });

  it("starts one job for duplicate and concurrent deliveries (webhook, redelivery, poller)", async () => {
    const { service, dispatcher, ledger, hub, issues } = setup();
    const outcomes = await Promise.all([
      service.intake(hubCandidate("d1")),
      service.intake(hubCandidate("d1")),
      service.intake(hubCandidate("d2")),
      service.intake({ source: "hub-poll", theta1: "alice/chat-dpo", requester: "hub:alice" }),
    ]);
    expect(outcomes.filter((o) => o.status === "accepted")).toHaveLength(1);
    expect((dispatcher as RecordingDispatcher).dispatched).toHaveLength(1);
    expect(ledger.all()).toHaveLength(1);
    expect(issues.issues).toHaveLength(1);
    // A later redelivery of a seen delivery is ignored before any Hub call.
    const calls = hub.calls;
    expect((await service.intake(hubCandidate("d1"))).status).toBe("ignored");
    expect(hub.calls).toBe(calls);
    // The poller skips a head the ledger knows.
    let polled = 0;
    await pollOnce({ hub, ledger, intake: async () => void polled++ });
    expect(polled).toBe(0);
  });

  it("polls the Hub for tagged models and feeds new heads to the intake", async () => {
    const hub = pairHub().add("bob/other-dpo", SHA0, { base_model: "alice/chat-sft" }, ["expo"]).add("bob/untagged", SHA1, {});
    const { service, ledger, dispatcher } = setup({ hub });
    expect(await pollOnce({ hub, ledger, intake: (c) => service.intake(c) })).toBe(2);
    expect(ledger.all().map((r) => [r.theta1, r.source, r.state])).toEqual([
      ["alice/chat-dpo", "hub-poll", "dispatched"],
      ["bob/other-dpo", "hub-poll", "dispatched"],
    ]);
    expect(await pollOnce({ hub, ledger, intake: (c) => service.intake(c) })).toBe(0);
    expect((dispatcher as RecordingDispatcher).dispatched).toHaveLength(2);
  });

  it("ignores untagged models and ExPO outputs from the Hub", async () => {
    const hub = pairHub().add("bob/plain", SHA1, { base_model: "bob/sft" }).add("expo-bot/x-ExPO", SHA1, { base_model: ["a/b", "a/c"], base_model_relation: "merge", tags: ["expo", "merge"] }, ["expo"]);
    const { service, ledger } = setup({ hub });
    expect((await service.intake({ source: "hub-webhook", theta1: "bob/plain", requester: "hub:bob" })).status).toBe("ignored");
    expect((await service.intake({ source: "hub-poll", theta1: "expo-bot/x-ExPO", requester: "hub:expo-bot" })).status).toBe("ignored");
    expect(ledger.all()).toHaveLength(0);
  });

  it("refuses with the precheck's reasons, before any GPU time, and closes the tracking issue", async () => {
    const precheck = passingPrecheck({ verdict: "refuse", reasons: ["relative distance 1.41 ≫ 0.05: θ1 was not trained from θ0"] });
    const { service, dispatcher, issues, discussions, ledger } = setup({ precheck });
    const out = await service.intake(hubCandidate());
    expect(out).toMatchObject({ status: "accepted", request: { state: "refused" } });
    expect((dispatcher as RecordingDispatcher).dispatched).toHaveLength(0);
    expect(issues.comments.at(-1)!.body).toMatch(/refused[\s\S]*relative distance 1.41/);
    expect(discussions.posts.at(-1)!.body).toMatch(/refused/);
    expect(issues.issues[0].state).toBe("closed");
    expect(ledger.all()[0].reasons[0]).toMatch(/relative distance/);
  });

  it("refuses a card with no parent, and a model over the size limit, with a clear message", async () => {
    const hub = new FakeHub()
      .add("carol/orphan", SHA1, { tags: ["expo"] }, ["expo"])
      .add("dan/huge-dpo", SHA1, { base_model: "dan/huge-sft" }, ["expo"], 70.6e9)
      .add("dan/huge-sft", SHA0, {});
    const { service, dispatcher, issues } = setup({ hub, config: { maxParams: 8e9 } });
    expect((await service.intake({ source: "hub-poll", theta1: "carol/orphan", requester: "hub:carol" })) as any).toMatchObject({ request: { state: "refused" } });
    expect(issues.comments.at(-1)!.body).toMatch(/names no parent/);
    await service.intake({ source: "hub-poll", theta1: "dan/huge-dpo", requester: "hub:dan" });
    expect(issues.comments.at(-1)!.body).toMatch(/70\.60 B parameters; this bot takes models up to 8\.00 B/);
    expect((dispatcher as RecordingDispatcher).dispatched).toHaveLength(0);
  });

  it("sizes a LoRA adapter θ1 by its θ0: accepted when θ0 fits, refused when θ0 is over the limit", async () => {
    const hub = new FakeHub()
      .add("erin/small-lora", SHA1, { base_model: "erin/small-sft", tags: ["expo"] }, ["expo"])
      .add("erin/small-sft", SHA0, {}, [], 7e9)
      .add("erin/big-lora", SHA1, { base_model: "erin/big-sft", tags: ["expo"] }, ["expo"])
      .add("erin/big-sft", SHA0, {}, [], 70e9);
    for (const a of ["erin/small-lora", "erin/big-lora"]) {
      hub.params.delete(a);
      hub.adapters.add(a);
    }
    const { service, dispatcher, issues } = setup({ hub, config: { maxParams: 8e9 } });
    expect(await service.intake({ source: "hub-poll", theta1: "erin/small-lora", requester: "hub:erin" })).toMatchObject({ request: { state: "dispatched" } });
    await service.intake({ source: "hub-poll", theta1: "erin/big-lora", requester: "hub:erin" });
    expect(issues.comments.at(-1)!.body).toMatch(/erin\/big-lora&#96; is a LoRA adapter on &#96;erin\/big-sft&#96;, which has 70\.00 B parameters; this bot takes models up to 8\.00 B/);
    expect((dispatcher as RecordingDispatcher).dispatched.map((r) => r.theta1)).toEqual(["erin/small-lora"]);
  });

  it("enforces per-requester and global quotas without recording the rejected request", async () => {
    const hub = pairHub();
    for (let i = 0; i < 4; i++) hub.add(`alice/m${i}`, SHA1, { base_model: "alice/chat-sft" }, ["expo"]);
    const { service, ledger } = setup({ hub, config: { quotaPerRequester: 2, quotaGlobal: 3 } });
    const gh = (theta1: string, who: string) => service.intake({ source: "github-comment", theta1, requester: `github:${who}`, issueNumber: 7 });
    expect((await gh("alice/m0", "u1")).status).toBe("accepted");
    expect((await gh("alice/m1", "u1")).status).toBe("accepted");
    const third = await gh("alice/m2", "u1");
    expect(third).toMatchObject({ status: "rejected", reason: expect.stringMatching(/quota exceeded: u1 has made 2 requests.*limit 2/) });
    expect((await gh("alice/m2", "u2")).status).toBe("accepted");
    expect(await gh("alice/m3", "u3")).toMatchObject({ status: "rejected", reason: expect.stringMatching(/the bot has taken 3 requests/) });
    expect(ledger.all()).toHaveLength(3);
  });

  it("treats a Hub outage as transient: nothing is recorded or refused, the requester is told to retry", async () => {
    const hub = pairHub();
    const { service, ledger } = setup({ hub });
    hub.modelInfo = async () => {
      throw Object.assign(new Error("503 Service Unavailable"), { status: 503 });
    };
    expect(await service.intake({ source: "github-comment", theta1: "alice/chat-dpo", requester: "github:u", issueNumber: 1 })).toMatchObject({
      status: "rejected",
      reason: expect.stringMatching(/did not answer.*try again later/),
    });
    await expect(service.intake(hubCandidate("d-outage"))).rejects.toThrow(/503/);
    expect(ledger.all()).toHaveLength(0);
    expect(ledger.hasDelivery("d-outage")).toBe(false); // a redelivery will be processed
  });

  it("retries a pre-check the Hub keeps failing, then fails the request and says so (EXPO_PRECHECK_GIVE_UP_HOURS)", async () => {
    let t = 1_000_000;
    const outage = Object.assign(new Error("503 Service Unavailable (Authorization: Bearer hf_abcdefghijklmnopqrstuvwxyz0123)"), { status: 503 });
    let down = true;
    const precheck = Object.assign(
      async (pair: unknown) => {
        precheck.calls.push(pair);
        if (down) throw outage;
        return { verdict: "pass" as const, reasons: [] };
      },
      { calls: [] as unknown[] },
    );
    const { service, ledger, issues, discussions } = setup({ precheck, now: () => t, config: { precheckGiveUpMs: 24 * 3600_000 } });
    await expect(service.intake(hubCandidate("d-1"))).rejects.toThrow(/503/);
    const id = ledger.all()[0].id;
    expect(ledger.get(id)!.state).toBe("received");
    // Within the window every reconciliation tries again, and the request waits.
    for (const minutes of [10, 20, 23 * 60]) {
      t = 1_000_000 + minutes * 60_000;
      await service.reconcile();
      expect(ledger.get(id)!.state).toBe("received");
    }
    expect(precheck.calls).toHaveLength(4);
    // Past it, the request fails and the requester is told why and how to ask again.
    t = 1_000_000 + 25 * 3600_000;
    await service.reconcile();
    expect(ledger.get(id)!.state).toBe("failed");
    const told = [...issues.comments.map((c) => c.body), ...discussions.posts.map((p) => JSON.stringify(p))];
    const failure = told.find((b) => b.includes("could not be checked"));
    // Comments escape Markdown, parentheses included (&#40; &#41;).
    expect(failure).toMatch(/^\*\*ExPO pre-check failed\.\*\* .*could not be checked for 25 hours &#40;last error: 503 Service Unavailable/);
    expect(failure).toMatch(/Push a new commit &#40;or tag it again&#41; to request again/);
    for (const b of told) expect(b).not.toContain("hf_abcdefghijklmnopqrstuvwxyz0123");
    // The production templates name the step too.
    const rendered = publishRenderer().failed({ request: ledger.get(id)!, homeRepo: "expo-org/expo-bot", failure: { message: "m", willRetry: false, step: "pre-check" } });
    expect(rendered).toContain("the step **pre-check** failed");
    // A failed request is final: the Hub coming back does not revive it.
    down = false;
    await service.reconcile();
    expect(ledger.get(id)!.state).toBe("failed");
    expect(precheck.calls).toHaveLength(5);
  });

  it("goes on once the Hub answers again within the give-up window", async () => {
    let t = 1_000_000;
    let down = true;
    const precheck = Object.assign(
      async (pair: unknown) => {
        precheck.calls.push(pair);
        if (down) throw Object.assign(new Error("fetch failed"), { code: "ECONNRESET" });
        return { verdict: "pass" as const, reasons: [] };
      },
      { calls: [] as unknown[] },
    );
    const { service, ledger } = setup({ precheck, now: () => t });
    await expect(service.intake(hubCandidate("d-2"))).rejects.toThrow(/fetch failed/);
    down = false;
    t += 3 * 3600_000;
    await service.reconcile();
    expect(ledger.all()[0].state).toBe("dispatched");
  });

  it("authorises write access or the configured list only", async () => {
    const { service, issues } = setup({ config: { allowedUsers: ["friend"] } });
    issues.permissions.set("maintainer", "maintain");
    issues.permissions.set("reader", "read");
    expect(await service.authorize("maintainer")).toEqual({ ok: true });
    expect(await service.authorize("Friend")).toEqual({ ok: true });
    expect(await service.authorize("reader")).toMatchObject({ ok: false, reason: expect.stringMatching(/write access to expo-org\/expo-bot/) });
  });
});

describe("results", () => {
  it("ingests a run once per (run id, attempt) and reports the result everywhere", async () => {
    const { service, dispatcher, issues, discussions, ledger } = setup();
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    const d = dispatcher as RecordingDispatcher;
    d.results.set("501:1", JSON.stringify(resultsFor(request)));
    await service.onRunStarted({ runId: 501, attempt: 1 });
    expect(ledger.get(request.id)!.state).toBe("running");
    await Promise.all([1, 2, 3].map(() => service.onRunCompleted({ runId: 501, attempt: 1, conclusion: "success" })));
    const done = ledger.get(request.id)!;
    expect(done.state).toBe("published");
    expect(done.result!.chosenAlpha).toBe(0.3);
    const results = issues.comments.filter((c) => /ExPO result/.test(c.body));
    expect(results).toHaveLength(1);
    expect(results[0].body).toMatch(/expo-bot\/chat-dpo-ExPO[\s\S]*\| 0\.3 \|/);
    expect(discussions.posts.filter((p) => /ExPO result/.test(p.body))).toHaveLength(1);
    expect(issues.issues[0].state).toBe("closed");
  });

  it("marks an invalid results.json as a job failure with the validator's message", async () => {
    const { service, dispatcher, issues, ledger } = setup();
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    (dispatcher as RecordingDispatcher).results.set("501:1", JSON.stringify({ schema: "expo-bot/results@1", requestId: request.id }));
    await service.onRunCompleted({ runId: 501, attempt: 1, conclusion: "success" });
    expect(ledger.get(request.id)!.state).toBe("failed");
    expect(issues.comments.at(-1)!.body).toMatch(/job failed[\s\S]*results\.json is invalid/);
  });

  it("retries an infrastructure failure once, then reports the second failure", async () => {
    const { service, dispatcher, issues, ledger } = setup();
    const d = dispatcher as RecordingDispatcher;
    d.failure = { kind: "infrastructure", detail: "job expo ended as failure with no failed step (runner lost or cancelled)" };
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    await service.onRunCompleted({ runId: 501, attempt: 1, conclusion: "failure" });
    expect(d.retried).toEqual([{ runId: 501, attempt: 1 }]);
    let r = ledger.get(request.id)!;
    expect(r).toMatchObject({ state: "dispatched", retries: 1, runId: 501, runAttempt: 2 });
    expect(issues.comments.at(-1)!.body).toMatch(/job failed[\s\S]*runner lost[\s\S]*retrying once/);
    await service.onRunCompleted({ runId: 501, attempt: 2, conclusion: "failure" });
    r = ledger.get(request.id)!;
    expect(r.state).toBe("failed");
    expect(d.retried).toHaveLength(1);
    expect(issues.comments.at(-1)!.body).not.toMatch(/retrying/);
  });

  it("correlates a retry that became a new run by its request id", async () => {
    const { service, dispatcher, ledger } = setup();
    const d = dispatcher as RecordingDispatcher;
    d.failure = { kind: "infrastructure", detail: "the run ended as startup_failure" };
    d.retry = async () => null; // e.g. re-dispatched without run details
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    await service.onRunCompleted({ runId: 501, attempt: 1, conclusion: "startup_failure" });
    expect(ledger.get(request.id)).toMatchObject({ state: "dispatched", runId: null });
    d.results.set("902:1", JSON.stringify(resultsFor(request, "no-gain")));
    await service.onRunCompleted({ runId: 902, attempt: 1, conclusion: "success", requestId: request.id });
    expect(ledger.get(request.id)).toMatchObject({ state: "no-gain", runId: 902 });
  });

  it("does not retry the job's own failure, and reports the step from its results.json", async () => {
    const { service, dispatcher, ledger, issues } = setup();
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    const failed = { ...resultsFor(request), outcome: "failed", published: null, chosenAlpha: null, error: { step: "search", message: "CUDA out of memory" } };
    (dispatcher as RecordingDispatcher).results.set("501:1", JSON.stringify(failed));
    await service.onRunCompleted({ runId: 501, attempt: 1, conclusion: "failure" });
    expect(ledger.get(request.id)!.state).toBe("failed");
    expect((dispatcher as RecordingDispatcher).retried).toHaveLength(0);
    expect(issues.comments.at(-1)!.body).toMatch(/step search failed: CUDA out of memory/);
  });

  it("ignores runs it did not start", async () => {
    const { service, ledger } = setup();
    await service.onRunCompleted({ runId: 999, attempt: 1, conclusion: "success", requestId: null });
    expect(ledger.all()).toHaveLength(0);
  });
});

describe("restart", () => {
  it("picks up a request where the process died: reopen the SQLite file and reconcile", async () => {
    const path = tmpLedgerPath();
    let t = 1_000_000;
    const now = () => t;
    // First process: dispatches, but the run id never came back (dispatch without run details).
    const d1 = new RecordingDispatcher();
    d1.returnRunId = false;
    const first = setup({ ledgerPath: path, dispatcher: d1, now });
    const { request } = (await first.service.intake(hubCandidate())) as { request: RequestRecord };
    expect(first.ledger.get(request.id)).toMatchObject({ state: "dispatched", runId: null });
    first.ledger.close();

    // Second process: the run finished while the bot was down; the completed event was missed.
    t += 60_000;
    const d2 = new RecordingDispatcher();
    d2.runs.set(request.id, { runId: 777, attempt: 1, status: "completed", conclusion: "success" });
    d2.results.set("777:1", JSON.stringify(resultsFor(request, "no-gain")));
    const second = setup({ ledgerPath: path, dispatcher: d2, now });
    expect(second.ledger.open().map((r) => r.id)).toEqual([request.id]);
    await second.service.reconcile();
    expect(second.ledger.get(request.id)).toMatchObject({ state: "no-gain", runId: 777 });
    expect(d2.dispatched).toHaveLength(0);
    expect(second.issues.comments.at(-1)!.body).toMatch(/no gain/);
    // A duplicate delivery after the restart still finds the request.
    expect((await second.service.intake(hubCandidate("d9"))).status).toBe("duplicate");
    second.ledger.close();
  });

  it("re-advances a request that was received but not prechecked, and re-dispatches a lost dispatch", async () => {
    const path = tmpLedgerPath();
    let t = 5_000_000;
    const now = () => t;
    const a = setup({ ledgerPath: path, now });
    // Simulate a crash right after the insert: the row exists, nothing else happened.
    a.ledger.insert({ id: "expo-aaaaaaaaaaaa", key: "k1", theta1: "alice/chat-dpo", theta1Sha: SHA1, theta0: "alice/chat-sft", theta0Sha: SHA0, alpha: null, source: "hub-poll", requester: "hub:alice" });
    // And one that was claimed for dispatch, but the process died before calling GitHub.
    a.ledger.insert({ id: "expo-bbbbbbbbbbbb", key: "k2", theta1: "alice/chat-dpo", theta1Sha: SHA0, theta0: "alice/chat-sft", theta0Sha: SHA0, alpha: 0.5, source: "hub-poll", requester: "hub:alice" });
    a.ledger.transition("expo-bbbbbbbbbbbb", "received", "prechecked");
    a.ledger.transition("expo-bbbbbbbbbbbb", "prechecked", "dispatched");
    a.ledger.close();
    t += 15 * 60_000;
    const b = setup({ ledgerPath: path, now });
    await b.service.reconcile();
    expect(b.ledger.get("expo-aaaaaaaaaaaa")!.state).toBe("dispatched");
    expect(b.ledger.get("expo-bbbbbbbbbbbb")!.state).toBe("dispatched");
    expect((b.dispatcher as RecordingDispatcher).dispatched.map((r) => r.id).sort()).toEqual(["expo-aaaaaaaaaaaa", "expo-bbbbbbbbbbbb"]);
    b.ledger.close();
  });
});

describe("ledger", () => {
  it("enforces the state machine", () => {
    const l = new Ledger(":memory:");
    l.insert({ id: "expo-cccccccccccc", key: "k", theta1: "a/b", theta1Sha: SHA1, theta0: "a/s", theta0Sha: SHA0, alpha: null, source: "hub-poll", requester: "hub:a" });
    expect(() => l.transition("expo-cccccccccccc", "received", "published")).toThrow(TransitionError);
    expect(l.transition("expo-cccccccccccc", "prechecked", "dispatched")).toBe(false); // not in that state
    expect(l.transition("expo-cccccccccccc", "received", "refused")).toBe(true);
    expect(() => l.transition("expo-cccccccccccc", "refused", "prechecked")).toThrow(TransitionError);
    expect(l.insert({ id: "expo-dddddddddddd", key: "k", theta1: "a/b", theta1Sha: SHA1, theta0: null, theta0Sha: null, alpha: null, source: "hub-poll", requester: "hub:a" }).created).toBe(false);
    // A claim is resumed until the ingestion that took it is marked done, then never again.
    expect(l.claimRun(1, 1, "expo-cccccccccccc", "success")).toEqual({ status: "new", tries: 1 });
    expect(l.claimRun(1, 1, "expo-cccccccccccc", "success")).toEqual({ status: "resume", tries: 2 });
    l.completeRun({ runId: 1, attempt: 1 });
    expect(l.claimRun(1, 1, "expo-cccccccccccc", "success")).toMatchObject({ status: "done" });
    expect(l.claimRun(1, 2, "expo-cccccccccccc", "success")).toEqual({ status: "new", tries: 1 });
    l.close();
  });
});

describe("in-process dispatcher", () => {
  it("runs the job function and feeds completion back through the same ingestion", async () => {
    let attempts = 0;
    const dispatcher = new InProcessDispatcher(async (req) => {
      attempts++;
      if (attempts === 1) throw Object.assign(new Error("runner lost"), { infrastructure: true });
      const r = req as { requestId: string; theta1: { repo: string; sha: string }; theta0: { repo: string; sha: string } };
      return JSON.stringify(resultsFor({ id: r.requestId, theta1: r.theta1.repo, theta1Sha: r.theta1.sha, theta0: r.theta0.repo, theta0Sha: r.theta0.sha }));
    });
    const { service, ledger, issues } = setup({ dispatcher });
    dispatcher.onCompleted = (run) => service.onRunCompleted(run);
    const { request } = (await service.intake(hubCandidate())) as { request: RequestRecord };
    await dispatcher.idle();
    expect(attempts).toBe(2);
    expect(ledger.get(request.id)).toMatchObject({ state: "published", retries: 1, runAttempt: 2 });
    expect(issues.comments.map((c) => c.body.split("**")[1])).toEqual(["ExPO request received.", "ExPO job failed.", expect.stringMatching(/^ExPO result: published/)]);
  });
});
