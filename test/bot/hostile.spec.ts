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
import { SHA1 } from "./doubles.js";
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
