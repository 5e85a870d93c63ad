/**
 * No secret in any log: the production logger (`createBotLog`, what `npm start` passes to
 * Probot's `run`) under a real Probot `Server` on 127.0.0.1 — Probot's HTTP request logger,
 * its webhook logger and the bot's own lines — with the Hub secret in the header, in the
 * query string, a GitHub signature and a bearer token, at the most verbose level and in both
 * output formats.
 */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { Writable } from "node:stream";
import { Probot, ProbotOctokit, Server } from "probot";
import { afterEach, describe, expect, it } from "vitest";
import { createExpoApp } from "../../src/bot/app.js";
import { makeConfig } from "../../src/bot/config.js";
import { Ledger } from "../../src/bot/ledger.js";
import { createBotLog } from "../../src/bot/log.js";
import { registerEnvSecrets } from "../../src/bot/start.js";
import { scrubSecrets } from "../../src/util/redact.js";
import { FakeDiscussions, FakeIssues, pairHub, passingPrecheck, SHA1 } from "./doubles.js";
import { hubPayload } from "./fixtures.js";

const HUB_SECRET = "Zq8-hub-webhook-secret-4f1c9e";
const GH_SECRET = "Wk3-github-webhook-secret-77ad";
const HF_TOKEN = "hf_" + "Q".repeat(6) + "abcdefghijklmnopqrstuvwxyz01";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });

let server: Server | null = null;
let ledger: Ledger | null = null;
afterEach(async () => {
  await server?.stop();
  ledger?.close();
  server = null;
});

async function boot(logFormat: "json" | "pretty") {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  registerEnvSecrets({ HF_WEBHOOK_SECRET: HUB_SECRET, WEBHOOK_SECRET: GH_SECRET, HF_TOKEN });
  const log = await createBotLog({ level: "trace", logFormat, destination });
  ledger = new Ledger(":memory:");
  const bot = createExpoApp({
    config: makeConfig({ homeRepo: "expo-org/expo-bot", installationId: 2, hubWebhookSecret: HUB_SECRET }),
    ledger,
    hub: pairHub(),
    precheck: passingPrecheck(),
    discussions: new FakeDiscussions(),
    issues: new FakeIssues(),
    dispatcher: { dispatch: async () => null, retry: async () => null, findRun: async () => null, downloadResults: async () => null, classifyFailure: async () => ({ kind: "job", detail: "" }) },
    reconcileOnStart: false,
  });
  server = new Server({
    host: "127.0.0.1",
    port: 0,
    log,
    Probot: Probot.defaults({ appId: 1, privateKey, secret: GH_SECRET, log, Octokit: ProbotOctokit.defaults((o: Record<string, any>) => ({ ...o, retry: { enabled: false }, throttle: { ...o?.throttle, enabled: false } })) }),
  });
  await server.load(bot.appFn);
  await server.start();
  const url = `http://127.0.0.1:${server.port}`;
  return { lines, url, log, bot };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each(["json", "pretty"] as const)("the production logger (%s)", (format) => {
  it("writes no webhook secret, signature or token from any request or log call", async () => {
    const { lines, url, log, bot } = await boot(format);
    const body = JSON.stringify(hubPayload("alice/chat-dpo", SHA1));
    // The Hub secret in the header, and (a Hub webhook URL may carry it) in the query string.
    const viaHeader = await fetch(`${url}/api/hub/webhooks`, { method: "POST", headers: { "content-type": "application/json", "x-webhook-secret": HUB_SECRET, authorization: `Bearer ${HF_TOKEN}` }, body });
    const viaQuery = await fetch(`${url}/api/hub/webhooks?secret=${HUB_SECRET}&x=1`, { method: "POST", headers: { "content-type": "application/json", "x-webhook-secret": "wrong-but-also-not-for-logs" }, body });
    expect([202, 401, 403]).toContain(viaHeader.status);
    expect(viaQuery.status).toBeGreaterThanOrEqual(200);
    // A GitHub delivery with its signature (Probot verifies and logs it).
    const ghBody = JSON.stringify({ zen: "hi", hook_id: 1 });
    const sig = `sha256=${createHmac("sha256", GH_SECRET).update(ghBody).digest("hex")}`;
    await fetch(`${url}/api/github/webhooks`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": "d-1", "x-hub-signature-256": sig }, body: ghBody });
    // The bot's own logger, handed secrets the way an error message might carry them.
    log.error({ err: { message: `GET https://hub.example/api?token=${HF_TOKEN} failed`, headers: { authorization: `Bearer ${HF_TOKEN}` } } }, `secret was ${HUB_SECRET}`);
    await until(() => lines.join("").includes("/api/github/webhooks") && lines.join("").includes("was"));
    bot.stop();
    const all = lines.join("");
    expect(all).toContain("/api/hub/webhooks");
    for (const secret of [HUB_SECRET, GH_SECRET, HF_TOKEN, sig.slice(7), "wrong-but-also-not-for-logs"]) expect(all).not.toContain(secret);
    expect(all).toContain("[REDACTED]");
  });
});

describe("scrubSecrets", () => {
  it("redacts a token whole, header lines, JSON fields, query parameters and registered values", () => {
    registerEnvSecrets({ HF_WEBHOOK_SECRET: "aaaa-registered-value-bbbb" });
    const text = [
      `X-Webhook-Secret: anything at all`,
      `{"x-webhook-secret":"s1-value","authorization":"Bearer x"}`,
      `POST /api/hub/webhooks?secret=s2-value&x=1`,
      `the value aaaa-registered-value-bbbb in prose`,
      `jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjEyM30.c2lnbmF0dXJl`,
    ].join("\n");
    const out = scrubSecrets(text);
    for (const s of ["anything at all", "s1-value", "s2-value", "registered-value", "eyJpc3Mi"]) expect(out).not.toContain(s);
    expect(out).toContain("x=1");
    expect(scrubSecrets(out)).toBe(out);
  });
});
