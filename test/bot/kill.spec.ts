/**
 * Kill tests: the bot process is really killed (SIGKILL) at each boundary of a request's life
 * — before and after every call to the outside world — and restarted on the same SQLite file.
 * The request must end published, with one tracking issue, one comment per event (on the
 * issue and on θ1's Hub thread), one dispatch and one published commit.
 *
 * The outside world is this test's HTTP server (the "world"): it answers the bot's calls
 * (Hub, GitHub issues, Actions), records every side effect, and carries out the kill: for
 * a rule (op, before) it kills the process when the call arrives and does nothing; for
 * (op, after) it does what was asked, then kills the process before answering. Each chain
 * starts the bot once per rule, every start killed at the next boundary, then once more
 * with no rule, which must finish and exit 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger } from "../../src/bot/ledger.js";
import type { RequestRecord, RunRef } from "../../src/bot/types.js";
import { resultsFor, SHA0, SHA1 } from "./doubles.js";

/** Kill at the `index`-th call (0-based) the bot makes in this start, before or after the world carries it out. */
type Rule = { index: number; when: "before" | "after" };

interface Run {
  runId: number;
  attempt: number;
  requestId: string;
  conclusion: "success" | "failure";
  request: RequestRecord;
}

/** The outside world as the bot sees it, with the side effects it has suffered. */
class World {
  issues: Array<{ number: number; title: string; state: string; reason?: string }> = [];
  comments: Array<{ issue: number; body: string }> = [];
  posts: Array<{ repo: string; body: string }> = [];
  dispatches = 0;
  runs: Run[] = [];
  /** Commits the jobs published (one per successful run executed). */
  commits = 0;
  /** When true, a run's first attempt fails as the infrastructure's (a lost runner). */
  firstAttemptFails = false;
  rule: Rule | null = null;
  child: ChildProcess | null = null;
  killedAt: string | null = null;
  /** The calls of the current start, for failure messages. */
  calls: string[] = [];
  private server: Server | null = null;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", async () => {
        const { op, args } = JSON.parse(body) as { op: string; args: any[] };
        this.calls.push(op);
        const kill = this.rule && this.rule.index === this.calls.length - 1 ? this.rule : null;
        if (kill?.when === "before") return this.kill(`${op} (before)`, res);
        let out: unknown;
        try {
          out = { result: await this.do(op, args) };
        } catch (err) {
          out = { error: { status: (err as { status?: number }).status, message: (err as Error).message } };
        }
        if (kill?.when === "after") return this.kill(`${op} (after)`, res);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out ?? { result: null }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()));
  }

  /**
   * SIGKILLs the bot with its call unanswered. The socket is left alone: closing it could
   * reach the bot (as an error it handles) before the signal does; it closes when the
   * process is gone.
   */
  private kill(at: string, _res: import("node:http").ServerResponse): void {
    this.killedAt = at;
    this.rule = null;
    this.child?.kill("SIGKILL");
  }

  private execute(run: Run): void {
    if (run.conclusion === "success") this.commits++;
  }

  private newRun(request: RequestRecord, runId: number, attempt: number): Run {
    const fails = this.firstAttemptFails && attempt === 1;
    const run: Run = { runId, attempt, requestId: request.id, conclusion: fails ? "failure" : "success", request };
    this.runs.push(run);
    this.execute(run);
    return run;
  }

  private info(run: Run) {
    return { runId: run.runId, attempt: run.attempt, status: "completed", conclusion: run.conclusion };
  }

  private async do(op: string, a: any[]): Promise<unknown> {
    switch (op) {
      case "modelInfo":
        if (a[0] === "alice/chat-dpo") return { id: "alice/chat-dpo", sha: SHA1, tags: ["expo"], cardData: { base_model: "alice/chat-sft", tags: ["expo"] } };
        if (a[0] === "alice/chat-sft") return { id: "alice/chat-sft", sha: SHA0, tags: [], cardData: {} };
        throw Object.assign(new Error("not found"), { status: 404 });
      case "listModelsWithTag":
        return [{ id: "alice/chat-dpo", sha: SHA1 }];
      case "parameterCount":
        return 1e9;
      case "precheck":
        return { verdict: "pass", reasons: [] };
      case "createIssue":
        this.issues.push({ number: 100 + this.issues.length, title: a[0], state: "open" });
        return 100 + this.issues.length - 1;
      case "findIssue":
        return this.issues.find((i) => i.title.endsWith(`(${a[0]})`))?.number ?? null;
      case "comment":
        this.comments.push({ issue: a[0], body: a[1] });
        return null;
      case "hasComment":
        return this.comments.some((c) => c.issue === a[0] && c.body.includes(a[1]));
      case "close": {
        const i = this.issues.find((x) => x.number === a[0])!;
        i.state = "closed";
        i.reason = a[1];
        return null;
      }
      case "permission":
        return "none";
      case "post":
        this.posts.push({ repo: a[0], body: a[1] });
        return null;
      case "hasPosted":
        return this.posts.some((p) => p.repo === a[0] && p.body.includes(a[1]));
      case "dispatch": {
        this.dispatches++;
        return this.info(this.newRun(a[0], 5000 + this.dispatches, 1));
      }
      case "retry": {
        const prev = a[1] as RunRef;
        return this.info(this.newRun(a[0], prev.runId, prev.attempt + 1));
      }
      case "findRun": {
        const r = a[0] as RequestRecord;
        const mine = this.runs.filter((x) => x.requestId === r.id && (r.runId === null || x.runId === r.runId));
        const last = mine[mine.length - 1];
        return last ? this.info(last) : null;
      }
      case "downloadResults": {
        const run = this.runs.find((x) => x.runId === a[0].runId && x.attempt === a[0].attempt);
        return run && run.conclusion === "success" ? JSON.stringify(resultsFor(run.request)) : null;
      }
      case "classifyFailure":
        return { kind: "infrastructure", detail: "the runner was lost" };
      default:
        throw new Error(`unknown op ${op}`);
    }
  }
}

// The bot process is bundled once (esbuild, as tsx uses) so that each of the many starts
// costs a Node start, not a TypeScript compile. Beside node_modules, so better-sqlite3 resolves.
const CHILD = join(process.cwd(), "node_modules", ".cache", "expo-bot-kill-tests", "kill-child.mjs");
const dirs: string[] = [];
beforeAll(async () => {
  await build({ entryPoints: [join(import.meta.dirname, "kill-child.ts")], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", outfile: CHILD, logLevel: "warning" });
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts the bot once; resolves with how it ended. */
function startBot(world: World, ledgerPath: string, first: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, KILL_LEDGER: ledgerPath, KILL_WORLD: world.url, KILL_FIRST: first ? "1" : "0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    world.child = child;
    let stderr = "";
    child.stderr!.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/**
 * One life of the bot on a fresh ledger: a start per rule (each must die by SIGKILL at its
 * boundary), then a start with no rule, which must finish and exit 0. Returns the world, the
 * request and the calls of the first start.
 */
async function life(rules: Rule[], setup: (w: World) => void = () => {}): Promise<{ world: World; request: RequestRecord; events: string[]; firstCalls: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "expo-kill-"));
  dirs.push(dir);
  const ledgerPath = join(dir, "ledger.sqlite");
  const world = new World();
  setup(world);
  await world.start();
  let firstCalls: string[] = [];
  try {
    let first = true;
    for (const rule of rules) {
      world.rule = rule;
      world.killedAt = null;
      world.calls = [];
      const end = await startBot(world, ledgerPath, first);
      if (first) firstCalls = [...world.calls];
      first = false;
      if (world.killedAt === null || end.signal !== "SIGKILL") {
        throw new Error(`the start was to die at call ${rule.index} (${rule.when}); it ended ${end.signal ?? `with code ${end.code}`} after: ${world.calls.join(" ")}\n${end.stderr}`);
      }
    }
    world.rule = null;
    world.calls = [];
    const end = await startBot(world, ledgerPath, first);
    if (first) firstCalls = [...world.calls];
    expect({ code: end.code, stderr: end.code === 0 ? "" : end.stderr }).toEqual({ code: 0, stderr: "" });
  } finally {
    await world.stop();
  }
  const ledger = new Ledger(ledgerPath);
  const all = ledger.all();
  const request = all[0];
  const events = ledger.events(request.id).map((e) => e.to);
  ledger.close();
  expect(all).toHaveLength(1);
  return { world, request, events, firstCalls };
}

/** Starts the bot with `ruleFor(k)` for its k-th start until a start finishes (exit 0). */
async function lifeUntilDone(ruleFor: (k: number) => Rule): Promise<{ world: World; request: RequestRecord; kills: number }> {
  const dir = mkdtempSync(join(tmpdir(), "expo-kill-"));
  dirs.push(dir);
  const ledgerPath = join(dir, "ledger.sqlite");
  const world = new World();
  await world.start();
  let kills = 0;
  try {
    for (let k = 0; ; k++) {
      world.rule = ruleFor(k);
      world.killedAt = null;
      world.calls = [];
      const end = await startBot(world, ledgerPath, k === 0);
      if (end.signal === "SIGKILL" && world.killedAt) {
        kills++;
        continue;
      }
      expect({ code: end.code, stderr: end.code === 0 ? "" : end.stderr }).toEqual({ code: 0, stderr: "" });
      break;
    }
  } finally {
    await world.stop();
  }
  const ledger = new Ledger(ledgerPath);
  const all = ledger.all();
  ledger.close();
  expect(all).toHaveLength(1);
  return { world, request: all[0], kills };
}

/** Runs `fn` over `items`, `n` at a time (each bot start is mostly waiting on I/O and tsx). */
async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/** The comments of one kind on the tracking issue and on the Hub thread. */
function count(world: World, heading: RegExp) {
  return { issue: world.comments.filter((c) => heading.test(c.body)).length, hub: world.posts.filter((p) => heading.test(p.body)).length };
}

function expectOneOfEverything(world: World, request: RequestRecord) {
  expect(request.state).toBe("published");
  expect(world.issues).toHaveLength(1);
  expect(world.issues[0]).toMatchObject({ state: "closed", reason: "completed" });
  expect(world.dispatches).toBe(1);
  expect(world.commits).toBe(1);
  expect(count(world, /^\*\*ExPO request received/)).toEqual({ issue: 1, hub: 1 });
  expect(count(world, /^\*\*ExPO result: published/)).toEqual({ issue: 1, hub: 1 });
  expect(world.comments.every((c) => c.issue === world.issues[0].number)).toBe(true);
  expect(world.posts.every((p) => p.repo === "alice/chat-dpo")).toBe(true);
}

/** Calls that change nothing outside: killing after one is the same boundary as killing before the next. */
const READ_ONLY = new Set(["modelInfo", "listModelsWithTag", "parameterCount", "precheck", "findIssue", "hasComment", "hasPosted", "findRun", "downloadResults", "classifyFailure", "permission"]);

/**
 * The boundaries: every call the bot makes to the outside world in an uninterrupted life
 * (recorded by a first, clean run), from the first call named `from` on; killed before each,
 * and after each that changes something. The first start of each case is that same life up
 * to the kill, so call `i` is the same call every time.
 */
async function everyBoundary(setup: (w: World) => void, check: (world: World, request: RequestRecord, events: string[]) => void, from?: string): Promise<string[]> {
  const reference = await life([], setup);
  check(reference.world, reference.request, reference.events);
  const calls = reference.firstCalls;
  const start = from ? calls.indexOf(from) : 0;
  expect(start).toBeGreaterThanOrEqual(0);
  const cases = calls.flatMap((op, index) =>
    index < start ? [] : (["before", "after"] as const).filter((when) => when === "before" || !READ_ONLY.has(op)).map((when) => ({ op, index, when })),
  );
  const failures: string[] = [];
  // One bot at a time: the suite runs two test files at once on two cores; more would starve them.
  await pool(cases, 1, async (c) => {
    try {
      const { world, request, events } = await life([{ index: c.index, when: c.when }], setup);
      check(world, request, events);
    } catch (err) {
      failures.push(`killed ${c.when} call ${c.index} (${c.op}): ${(err as Error).message}`);
    }
  });
  expect(failures).toEqual([]);
  return calls;
}

describe("kill -9 at every boundary of a request's life, restart on the same ledger", () => {
  it("a request from a Hub webhook to a published model: one issue, one comment per event, one dispatch, one commit", async () => {
    const calls = await everyBoundary(() => {}, expectOneOfEverything);
    // The boundaries include ingestion (issue 14, item 1): the claim is taken before downloadResults.
    expect(calls).toEqual(expect.arrayContaining(["createIssue", "precheck", "comment", "post", "dispatch", "findRun", "downloadResults", "close"]));
  }, 240_000);

  it("a run the infrastructure failed: one re-run, one commit, the failure told once", async () => {
    const calls = await everyBoundary(
      (w) => (w.firstAttemptFails = true),
      (world, request, events) => {
        expect(request).toMatchObject({ state: "published", retries: 1, pendingRetry: null });
        expect(world.dispatches).toBe(1);
        expect(world.runs.map((r) => `${r.runId}:${r.attempt}:${r.conclusion}`)).toEqual(["5001:1:failure", "5001:2:success"]);
        expect(world.commits).toBe(1);
        expect(world.issues).toHaveLength(1);
        expect(count(world, /^\*\*ExPO job failed/)).toEqual({ issue: 1, hub: 1 });
        expect(count(world, /^\*\*ExPO result: published/)).toEqual({ issue: 1, hub: 1 });
        expect(events).toEqual(["received", "prechecked", "dispatched", "dispatched", "published"]);
      },
      // The life up to the failed run is the first test's; the boundaries from its classification on are new.
      "classifyFailure",
    );
    expect(calls).toEqual(expect.arrayContaining(["classifyFailure", "retry"]));
  }, 240_000);

  it("several crashes in one life, each at the next boundary of its restart", async () => {
    // Start k dies at its own call k (alternately before and after it): a restart's recovery
    // (findIssue, hasComment, findRun…) is itself interrupted. Starts continue until one has
    // fewer calls than its rule, i.e. finishes.
    const { world, request, kills } = await lifeUntilDone((k) => ({ index: k, when: k % 2 === 0 ? "after" : "before" }));
    expect(kills).toBeGreaterThanOrEqual(6);
    expectOneOfEverything(world, request);
  }, 120_000);
});
