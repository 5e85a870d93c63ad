import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { createHubClient, rateLimitDelayMs } from "./client.js";
import { getModelInfo } from "./model-info.js";
import { readTextFile } from "./read-file.js";
import { commitFiles } from "./commit.js";
import { HubRateLimitError, HubServerError, HubAuthError } from "./errors.js";
import { startFixture, TOKEN, type Fixture } from "./spec-helpers.js";
import { rejectionOf } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx.hub.close();
});

describe("rateLimitDelayMs", () => {
  it("reads the RateLimit t= parameter, then Retry-After seconds or date", () => {
    expect(rateLimitDelayMs(new Headers({ RateLimit: '"api";r=0;t=55' }))).toBe(55_000);
    expect(rateLimitDelayMs(new Headers({ "Retry-After": "7" }))).toBe(7_000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(rateLimitDelayMs(new Headers({ "Retry-After": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(3_000);
    expect(rateLimitDelayMs(new Headers({}))).toBeUndefined();
  });
});

describe("retries", () => {
  it("waits what the RateLimit header says after a 429, then succeeds", async () => {
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 429, count: 2, headers: { RateLimit: '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300' } });
    const info = await getModelInfo({ client: fx.client, repo: "org/aligned" });
    expect(info.repo).toBe("org/aligned");
    expect(fx.sleeps).toEqual([55_000, 55_000]);
    expect(fx.client.stats.retries).toBe(2);
  });

  it("honours Retry-After on a 429 from a file download", async () => {
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", status: 429, headers: { "Retry-After": "3" } });
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "config.json" })).toContain("llama");
    expect(fx.sleeps).toEqual([3_000]);
  });

  it("gives HubRateLimitError when still limited after the retries, or when the wait is too long", async () => {
    const client = createHubClient({ token: TOKEN, hubUrl: fx.hub.url, sleep: async () => {}, retry: { maxRetries: 2 } });
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 429, count: 10 });
    await expect(getModelInfo({ client, repo: "org/aligned" })).rejects.toThrow(HubRateLimitError);
    fx.hub.admin.clearFaults();
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 429, headers: { RateLimit: '"api";r=0;t=3600' } });
    const before = client.stats.requests;
    await expect(getModelInfo({ client, repo: "org/aligned" })).rejects.toThrow(/rate-limited/);
    expect(client.stats.requests - before).toBe(1);
  });

  it("retries transient 5xx with exponential backoff", async () => {
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 503, count: 3 });
    await getModelInfo({ client: fx.client, repo: "org/aligned" });
    expect(fx.sleeps).toHaveLength(3);
    // jittered between half and all of 500, 1000, 2000 ms
    expect(fx.sleeps[0]).toBeGreaterThanOrEqual(250);
    expect(fx.sleeps[0]).toBeLessThanOrEqual(500);
    expect(fx.sleeps[2]).toBeGreaterThanOrEqual(1000);
    expect(fx.sleeps[2]).toBeLessThanOrEqual(2000);
  });

  it("gives HubServerError after persistent 5xx", async () => {
    const client = createHubClient({ hubUrl: fx.hub.url, sleep: async () => {}, retry: { maxRetries: 1 } });
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 500, count: 5 });
    await expect(getModelInfo({ client, repo: "org/aligned" })).rejects.toThrow(HubServerError);
  });

  it("never retries a commit on 5xx (it could land twice)", async () => {
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned/commit/", status: 500 });
    await expect(commitFiles({ client: fx.client, repo: "org/aligned", title: "t", files: [{ path: "a.txt", content: { text: "x" } }] })).rejects.toThrow(HubServerError);
    expect(fx.hub.admin.requests.filter((r) => r.path.includes("/commit/")).length).toBe(1);
  });

  it("re-requests a ranged body cut short by the connection", async () => {
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", truncateAfter: 0, count: 1, method: "GET" });
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "config.json" })).toContain("llama");
    expect(fx.client.stats.retries).toBe(1);
  });
});

describe("token hygiene", () => {
  it("keeps the token out of error messages and serialised errors/clients", async () => {
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 401, headers: { "X-Error-Message": "Invalid credentials in Authorization header" }, body: JSON.stringify({ error: "Invalid credentials in Authorization header" }) });
    const err = await rejectionOf<Error>(getModelInfo({ client: fx.client, repo: "org/aligned" }));
    expect(err).toBeInstanceOf(HubAuthError);
    expect(err.message).toMatch(/org\/aligned/);
    const dump = `${err.message} ${err.stack} ${JSON.stringify(err)} ${JSON.stringify(fx.client)} ${String((err as { cause?: Error }).cause?.message)}`;
    expect(dump).not.toContain(TOKEN);
  });
});

describe("compressed answers", () => {
  // A server that compresses the way CDNs in front of the Hub do: Content-Length is the size of
  // the compressed body (RFC 9110 §8.6), not of what fetch hands over after decoding.
  async function compressingServer(encoding: "gzip" | "br", body: string) {
    const server = createServer((req, res) => {
      const data = encoding === "gzip" ? gzipSync(body) : brotliCompressSync(Buffer.from(body));
      res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": encoding, "Content-Length": data.byteLength, Vary: "Accept-Encoding" });
      res.end(data);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  for (const encoding of ["gzip", "br"] as const) {
    it(`reads a ${encoding} model-info answer whose Content-Length is the compressed size`, async () => {
      // Repetitive JSON compresses well, so the decoded body is far longer than Content-Length.
      const info = { _id: "x", id: "org/zipped", modelId: "org/zipped", sha: "a".repeat(40), tags: Array.from({ length: 200 }, (_, i) => `tag-${i}`), private: false };
      const server = await compressingServer(encoding, JSON.stringify(info));
      try {
        const retries: string[] = [];
        const client = createHubClient({ hubUrl: server.url, sleep: async () => {}, onRetry: (e) => retries.push(e.reason) });
        const got = await getModelInfo({ client, repo: "org/zipped" });
        expect(got.sha).toBe("a".repeat(40));
        expect(got.tags).toHaveLength(200);
        expect(retries).toEqual([]);
        // The buffered copy describes the bytes it holds.
        const res = await client.fetch(`${server.url}/api/models/org/zipped`);
        expect(res.headers.get("content-encoding")).toBeNull();
        expect(Number(res.headers.get("content-length"))).toBe(JSON.stringify(info).length);
      } finally {
        await server.close();
      }
    });
  }
});
