/**
 * The bot process of the kill tests (test/bot/kill.spec.ts): ExpoService on a SQLite ledger
 * FILE, with every outside service (Hub, GitHub issues, Actions, the Hub thread) reached over
 * HTTP at the test's "world" server, which records each side effect and SIGKILLs this process
 * at the boundary under test. Started as `tsx kill-child.ts` with:
 *   KILL_LEDGER  the SQLite file (the same one across restarts)
 *   KILL_WORLD   the world's URL
 *   KILL_FIRST   "1" on the first start: a Hub webhook delivery is taken (as the route would)
 * It then does what a restarted bot does — reconcile, poll — until the request is finished
 * and no comment is owed, and exits 0.
 */
import { makeConfig } from "../../src/bot/config.js";
import { Ledger } from "../../src/bot/ledger.js";
import { pollOnce } from "../../src/bot/poller.js";
import { ExpoService } from "../../src/bot/service.js";
import type { BotHub, Dispatcher, HubDiscussions, IssueTracker, Logger, Precheck } from "../../src/bot/types.js";
import { TERMINAL_STATES } from "../../src/bot/types.js";

const world = process.env.KILL_WORLD!;

async function call<T>(op: string, ...args: unknown[]): Promise<T> {
  const res = await fetch(`${world}/op`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ op, args }) });
  const out = (await res.json()) as { result?: T; error?: { status?: number; message: string } };
  if (out.error) throw Object.assign(new Error(out.error.message), { status: out.error.status });
  return out.result as T;
}

const hub: BotHub = {
  modelInfo: (repo, revision) => call("modelInfo", repo, revision),
  async *listModelsWithTag(tag) {
    for (const m of await call<Array<{ id: string; sha?: string }>>("listModelsWithTag", tag)) yield m;
  },
  parameterCount: (repo, revision) => call("parameterCount", repo, revision),
};
const precheck: Precheck = (pair) => call("precheck", pair);
const issues: IssueTracker = {
  createIssue: (title, body, labels) => call("createIssue", title, body, labels),
  comment: (issue, body) => call("comment", issue, body),
  close: (issue, reason) => call("close", issue, reason),
  permission: (login) => call("permission", login),
  findIssue: (id) => call("findIssue", id),
  hasComment: (issue, marker) => call("hasComment", issue, marker),
};
const discussions: HubDiscussions = {
  post: (theta1, body) => call("post", theta1, body),
  hasPosted: (theta1, marker) => call("hasPosted", theta1, marker),
};
const dispatcher: Dispatcher = {
  dispatch: (r) => call("dispatch", r),
  retry: (r, run) => call("retry", r, run),
  findRun: (r) => call("findRun", r),
  downloadResults: (run) => call("downloadResults", run),
  classifyFailure: (run) => call("classifyFailure", run),
};
const log: Logger = {
  info() {},
  warn: (o, m) => process.stderr.write(`warn ${m} ${JSON.stringify(o)}\n`),
  error: (o, m) => process.stderr.write(`error ${m} ${JSON.stringify(o)}\n`),
};

const ledger = new Ledger(process.env.KILL_LEDGER!);
const service = new ExpoService({
  config: makeConfig({ homeRepo: "expo-org/expo-bot", lostDispatchMs: 0 }),
  ledger,
  hub,
  precheck,
  issues,
  dispatcher,
  discussions,
  log,
});

if (process.env.KILL_FIRST === "1") {
  await service.intake({ source: "hub-webhook", theta1: "alice/chat-dpo", requester: "hub:alice", deliveryId: "hub:delivery-1" });
}
for (;;) {
  await service.reconcile();
  await pollOnce({ hub, ledger, intake: (c) => service.intake(c), log });
  const all = ledger.all();
  if (all.length > 0 && all.every((r) => TERMINAL_STATES.includes(r.state)) && ledger.outbox().length === 0) break;
  await new Promise((r) => setTimeout(r, 5));
}
ledger.close();
process.exit(0);
