import { describe, expect, it } from "vitest";
import { assertRealSecret, loadConfig } from "../../src/bot/config.js";
import { buildBot } from "../../src/bot/start.js";
import { classifyJobs } from "../../src/bot/dispatch.js";
import { candidateFromHubPayload, hubWebhookHandler, secretMatches } from "../../src/bot/hub-webhook.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseExpoCommand, parseIssueForm, readCardRequest, requestIdInTitle, requestIdOf, requestKey } from "../../src/bot/request.js";
import { readZipEntry, writeZip } from "../../src/bot/zip.js";
import { parseResults, validateResults } from "../../src/job/results.js";
import { resultsFor, SHA0, SHA1 } from "./doubles.js";
import { hubPayload } from "./fixtures.js";

describe("card requests", () => {
  const info = (card: Record<string, unknown> | null, tags: string[] = []) => ({ id: "a/b", sha: SHA1, tags, cardData: card });
  it("takes θ0 from a single base_model", () => {
    expect(readCardRequest(info({ base_model: "a/sft", tags: ["expo"] }))).toEqual({ theta0: "a/sft", alpha: null, problems: [] });
  });
  it("prefers expo-parent and reads expo-alpha", () => {
    expect(readCardRequest(info({ base_model: ["x/y", "z/w"], tags: ["expo", "expo-parent:a/sft", "expo-alpha:0.3"] }))).toEqual({ theta0: "a/sft", alpha: 0.3, problems: [] });
  });
  it("explains a missing or ambiguous parent", () => {
    expect(readCardRequest(info({ tags: ["expo"] })).problems[0]).toMatch(/names no parent/);
    expect(readCardRequest(info({ base_model: ["x/y", "z/w"] })).problems[0]).toMatch(/lists 2 models/);
    expect(readCardRequest(info({ base_model: "a/s", tags: ["expo-alpha:lots"] })).problems[0]).toMatch(/not a number/);
  });
});

describe("/expo and the issue form", () => {
  it("parses the command", () => {
    expect(parseExpoCommand("please\n/expo alice/dpo parent alice/sft alpha 0.5\nthanks")).toEqual({ theta1: "alice/dpo", theta0: "alice/sft", alpha: 0.5 });
    expect(parseExpoCommand("/expo alice/dpo")).toEqual({ theta1: "alice/dpo" });
    expect(parseExpoCommand("no command here /expo a/b")).toBeNull();
    expect(parseExpoCommand("/expo ../etc")).toHaveProperty("error");
    expect(parseExpoCommand("/expo a/b alpha -1")).toHaveProperty("error");
    expect(parseExpoCommand("/expo a/b colour red")).toHaveProperty("error");
  });
  it("parses the rendered issue form", () => {
    const body = "### Aligned model (θ1)\n\nalice/dpo\n\n### SFT parent (θ0)\n\n_No response_\n\n### Alpha (optional)\n\n0.25\n";
    expect(parseIssueForm(body)).toEqual({ theta1: "alice/dpo", alpha: 0.25 });
    expect(parseIssueForm("just an issue")).toBeNull();
  });
});

describe("keys", () => {
  it("differ by revision and settings and are stable", () => {
    const base = { theta1: "a/b", theta1Sha: SHA1, theta0: "a/s", theta0Sha: SHA0, alpha: null };
    const k = requestKey(base);
    expect(requestKey({ ...base })).toBe(k);
    expect(requestKey({ ...base, alpha: 0.3 })).not.toBe(k);
    expect(requestKey({ ...base, theta1Sha: SHA0 })).not.toBe(k);
    const id = requestIdOf(k);
    expect(id).toMatch(/^expo-[0-9a-f]{12}$/);
    expect(requestIdInTitle(`ExPO ${id} alice/dpo`)).toBe(id);
  });
});

describe("secrets", () => {
  it("refuses Probot's development default and short or missing secrets", () => {
    expect(() => assertRealSecret("WEBHOOK_SECRET", undefined)).toThrow(/not set/);
    expect(() => assertRealSecret("WEBHOOK_SECRET", "development")).toThrow(/placeholder/);
    expect(() => assertRealSecret("WEBHOOK_SECRET", "short")).toThrow(/too short/);
    expect(assertRealSecret("WEBHOOK_SECRET", "0123456789abcdef0123")).toBe("0123456789abcdef0123");
  });
  it("compares any lengths without throwing", () => {
    expect(secretMatches("x", "a-much-longer-secret")).toBe(false);
    expect(secretMatches("same", "same")).toBe(true);
  });
});

describe("Hub webhook payloads", () => {
  it("turns the documented repo.content update into a candidate pinned to headSha", () => {
    const c = candidateFromHubPayload(hubPayload("alice/chat-dpo", SHA1), "d1");
    expect(c).toMatchObject({ source: "hub-webhook", theta1: "alice/chat-dpo", theta1Revision: SHA1, requester: "hub:alice" });
  });
  it("ignores discussions, datasets, deletions and non-main refs", () => {
    const p = hubPayload("alice/chat-dpo", SHA1);
    expect(candidateFromHubPayload({ ...p, event: { action: "create", scope: "discussion" } })).toBeNull();
    expect(candidateFromHubPayload({ ...p, repo: { ...p.repo, type: "dataset" } })).toBeNull();
    expect(candidateFromHubPayload({ ...p, event: { action: "delete", scope: "repo" } })).toBeNull();
    expect(candidateFromHubPayload({ ...p, updatedRefs: [{ ref: "refs/pr/3", oldSha: null, newSha: SHA0 }] })).toBeNull();
  });
});

describe("Hub webhook route", () => {
  it("follows movedTo of a move event: the request is for the repo's new name", () => {
    const p = hubPayload("alice/old-name", SHA1);
    const moved = candidateFromHubPayload({ ...p, event: { action: "move", scope: "repo" }, movedTo: { name: "alice/new-name", owner: { id: "61d2000c3c2083e1c08af22d" } } });
    expect(moved).toMatchObject({ theta1: "alice/new-name", theta1Revision: SHA1, requester: "hub:alice" });
  });

  it("takes the secret from the header or ?secret=, and logs the payload's webhook version", async () => {
    const lines: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
    const log = { info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "info", fields, msg }), warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "warn", fields, msg }) };
    const candidates: unknown[] = [];
    const handler = hubWebhookHandler({ path: "/hook", secret: "the-shared-secret", onCandidate: async (c) => candidates.push(c), log });
    const server = createServer(async (req, res) => {
      if (!(await handler(req, res))) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const body = JSON.stringify(hubPayload("alice/chat-dpo", SHA1));
      expect((await fetch(`${base}?secret=the-shared-secret`, { method: "POST", body })).status).toBe(202);
      expect((await fetch(`${base}?secret=wrong`, { method: "POST", body })).status).toBe(403);
      expect((await fetch(`${base}?secret=`, { method: "POST", body })).status).toBe(401);
      expect((await fetch(`${base}?secret=a&secret=b`, { method: "POST", body })).status).toBe(403);
      expect((await fetch(base, { method: "POST", headers: { "x-webhook-secret": "the-shared-secret" }, body })).status).toBe(202);
      expect((await fetch(base, { method: "POST", headers: { "x-webhook-secret": "the-shared-secret" }, body: JSON.stringify({ ...hubPayload("alice/chat-dpo", SHA1), webhook: { id: "w", version: 4 } }) })).status).toBe(202);
      expect(lines.map((l) => [l.level, l.fields.version])).toEqual([
        ["info", 3],
        ["info", 3],
        ["warn", 4],
      ]);
      expect(lines[2]!.msg).toMatch(/version 4.*reads v3/);
      expect(JSON.stringify(lines)).not.toContain("the-shared-secret");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("results.json", () => {
  const r = { id: "expo-000000000000", theta1: "a/b", theta1Sha: SHA1, theta0: "a/s", theta0Sha: SHA0 };
  it("accepts a valid document and names every bad field", () => {
    expect(validateResults(resultsFor(r))).toEqual([]);
    expect(parseResults(JSON.stringify(resultsFor(r, "no-gain"))).outcome).toBe("no-gain");
    const bad = { ...resultsFor(r), theta1: { repo: "x", sha: "y" }, alphas: [{ alpha: "0.3" }] };
    const errors = validateResults(bad);
    expect(errors.join("\n")).toMatch(/theta1.repo/);
    expect(errors.join("\n")).toMatch(/alphas\[0\].alpha/);
    expect(validateResults({ ...resultsFor(r), schema: "expo-bot/results@9" })[0]).toMatch(/schema/);
    expect(() => parseResults("{")).toThrow(/not valid JSON/);
  });
});

describe("zip", () => {
  it("round-trips deflated entries and finds them by base name", () => {
    const zip = writeZip({ "results.json": '{"a":1}', "out/plot.svg": "<svg/>".repeat(100) });
    expect(readZipEntry(zip, "results.json")!.toString()).toBe('{"a":1}');
    expect(readZipEntry(zip, "plot.svg")!.toString()).toBe("<svg/>".repeat(100));
    expect(readZipEntry(zip, "missing")).toBeNull();
    expect(() => readZipEntry(Buffer.from("not a zip at all, just text........"), "x")).toThrow(/not a zip/);
    expect(() => readZipEntry(zip, "out/plot.svg", 10)).toThrow(/limit/);
  });
});

describe("failure classification", () => {
  it("retries only what the infrastructure broke", () => {
    expect(classifyJobs("startup_failure", []).kind).toBe("infrastructure");
    expect(classifyJobs("failure", [{ name: "expo", conclusion: "failure", steps: [{ name: "Set up job", conclusion: "success" }, { name: "Run ExPO job", conclusion: null, status: "in_progress" }] }]).kind).toBe(
      "infrastructure",
    );
    expect(classifyJobs("cancelled", [{ name: "expo", conclusion: "cancelled", steps: [] }]).kind).toBe("infrastructure");
    expect(classifyJobs("failure", [{ name: "expo", conclusion: "failure", steps: [{ name: "Install dependencies", conclusion: "failure" }] }]).kind).toBe("infrastructure");
    expect(classifyJobs("failure", [{ name: "expo", conclusion: "failure", steps: [{ name: "Run ExPO job", conclusion: "failure" }] }])).toEqual({ kind: "job", detail: 'step "Run ExPO job" failed' });
  });
});

describe("start-up", () => {
  const env = { WEBHOOK_SECRET: "0123456789abcdef0123", APP_ID: "1", PRIVATE_KEY: "pem", EXPO_HOME_REPO: "o/r", HF_TOKEN: "hf_x", EXPO_LEDGER: ":memory:", EXPO_POLL_MINUTES: "0" };
  it("refuses to build without a real WEBHOOK_SECRET or the other essentials", () => {
    expect(() => buildBot({ ...env, WEBHOOK_SECRET: undefined })).toThrow(/WEBHOOK_SECRET is not set/);
    expect(() => buildBot({ ...env, WEBHOOK_SECRET: "development" })).toThrow(/placeholder/);
    expect(() => buildBot({ ...env, EXPO_HOME_REPO: "nope" })).toThrow(/EXPO_HOME_REPO/);
    expect(() => buildBot({ ...env, HF_TOKEN: "" })).toThrow(/HF_TOKEN/);
    expect(() => buildBot({ ...env, HF_WEBHOOK_SECRET: "development" })).toThrow(/HF_WEBHOOK_SECRET/);
    const { bot, ledger } = buildBot(env);
    expect(typeof bot.appFn).toBe("function");
    ledger.close();
  });
});

describe("configuration", () => {
  it("reads the pre-check give-up window in hours, and refuses a negative one naming the variable", () => {
    const env = { EXPO_HOME_REPO: "expo-org/expo-bot" };
    expect(loadConfig(env).precheckGiveUpMs).toBe(24 * 3600_000);
    expect(loadConfig({ ...env, EXPO_PRECHECK_GIVE_UP_HOURS: "2" }).precheckGiveUpMs).toBe(2 * 3600_000);
    expect(() => loadConfig({ ...env, EXPO_PRECHECK_GIVE_UP_HOURS: "-1" })).toThrow(/EXPO_PRECHECK_GIVE_UP_HOURS=-1 is not a non-negative number/);
  });
});
