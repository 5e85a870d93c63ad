import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileDownloadInfo, modelInfo, downloadFile } from "@huggingface/hub";
import { parseRange, startLocalHub, CHECKED_CLIENT_VERSION, type LocalHub } from "./server.js";
import { gitBlobOid, lfsPointer } from "./store.js";

let hub: LocalHub;
const weights = new Uint8Array(1000).map((_, i) => i % 256);

beforeEach(async () => {
  hub = await startLocalHub();
  hub.admin.createRepo("org/m", { files: { "model.safetensors": weights, "config.json": '{"a":1}' } });
});
afterEach(async () => {
  await hub.close();
});

describe("local Hub server", () => {
  it("states the client version it was checked against, which is the installed one", () => {
    const installed = JSON.parse(readFileSync(new URL("../../node_modules/@huggingface/hub/package.json", import.meta.url), "utf8")).version;
    expect(CHECKED_CLIENT_VERSION).toBe(installed);
  });

  it("parses single byte ranges", () => {
    expect(parseRange("bytes=0-0", 10)).toEqual([0, 0]);
    expect(parseRange("bytes=5-", 10)).toEqual([5, 9]);
    expect(parseRange("bytes=-3", 10)).toEqual([7, 9]);
    expect(parseRange("bytes=8-100", 10)).toEqual([8, 9]);
    expect(parseRange("bytes=10-", 10)).toBeNull();
    expect(parseRange("bytes=3-1", 10)).toBeNull();
    expect(parseRange("items=1-2", 10)).toBeNull();
  });

  it("serves resolve with Range, Content-Range and the headers the client reads", async () => {
    const sha = hub.admin.repo("org/m")!.branches.main!;
    // LFS files: a 302 carrying the Hub's headers, to a signed URL on the CDN host…
    const hop = await fetch(`${hub.url}/org/m/resolve/main/model.safetensors`, { headers: { Range: "bytes=10-19" }, redirect: "manual" });
    expect(hop.status).toBe(302);
    expect(hop.headers.get("location")).toMatch(new RegExp(`^${hub.cdnUrl}/repos/[0-9a-f]{64}/model.safetensors\\?Expires=\\d+&Signature=`));
    expect(hop.headers.get("x-repo-commit")).toBe(sha);
    expect(hop.headers.get("x-linked-size")).toBe("1000");
    const sha256 = createHash("sha256").update(weights).digest("hex");
    expect(hop.headers.get("x-linked-etag")).toBe(`"${sha256}"`);
    // …which serves the range without the token (fetch drops it across origins) but not a forged URL.
    const res = await fetch(`${hub.url}/org/m/resolve/main/model.safetensors`, { headers: { Range: "bytes=10-19" } });
    expect(res.url.startsWith(hub.cdnUrl)).toBe(true);
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect(res.headers.get("etag")).toBe(`"${sha256}"`);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    const forged = hop.headers.get("location")!.replace(/Signature=[0-9a-f]/, "Signature=x");
    expect((await fetch(forged)).status).toBe(403);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(weights.subarray(10, 20));
    const bad = await fetch(`${hub.url}/org/m/resolve/main/model.safetensors`, { headers: { Range: "bytes=2000-" } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get("content-range")).toBe("bytes */1000");
    const info = await fileDownloadInfo({ repo: "org/m", path: "model.safetensors", hubUrl: hub.url });
    expect(info).toMatchObject({ size: 1000, etag: `"${sha256}"` });
    // by commit sha too
    expect((await fetch(`${hub.url}/org/m/resolve/${sha}/config.json`)).status).toBe(200);
  });

  it("serves raw LFS pointers and git oids like git", async () => {
    const sha256 = createHash("sha256").update(weights).digest("hex");
    const raw = await (await fetch(`${hub.url}/org/m/raw/main/model.safetensors`)).text();
    expect(raw).toBe(lfsPointer(sha256, 1000));
    const tree = (await (await fetch(`${hub.url}/api/models/org/m/tree/main`)).json()) as { path: string; oid: string; lfs?: { oid: string } }[];
    expect(tree.find((e) => e.path === "config.json")!.oid).toBe(gitBlobOid(new TextEncoder().encode('{"a":1}')));
    expect(tree.find((e) => e.path === "model.safetensors")!.lfs!.oid).toBe(sha256);
  });

  it("answers missing repos, revisions and files with the Hub's error codes", async () => {
    const repo = await fetch(`${hub.url}/api/models/org/none`);
    expect([repo.status, repo.headers.get("x-error-code")]).toEqual([404, "RepoNotFound"]);
    const rev = await fetch(`${hub.url}/org/m/resolve/v9/config.json`);
    expect([rev.status, rev.headers.get("x-error-code")]).toEqual([404, "RevisionNotFound"]);
    const entry = await fetch(`${hub.url}/org/m/resolve/main/none.json`);
    expect([entry.status, entry.headers.get("x-error-code")]).toEqual([404, "EntryNotFound"]);
    expect(await entry.json()).toEqual({ error: "Entry not found" });
    const head = await fetch(`${hub.url}/org/m/raw/main/none.json`, { method: "HEAD" });
    expect(head.status).toBe(404);
  });

  it("private repos are 404 without a token; gated repos answer resolve with 401/403 GatedRepo", async () => {
    hub.admin.setPrivate("org/m", true);
    expect((await fetch(`${hub.url}/api/models/org/m`)).status).toBe(404);
    expect((await fetch(`${hub.url}/api/models/org/m`, { headers: { Authorization: "Bearer hf_x" } })).status).toBe(200);
    hub.admin.setPrivate("org/m", false);
    hub.admin.setGated("org/m", "auto");
    const anon = await fetch(`${hub.url}/org/m/resolve/main/config.json`);
    expect([anon.status, anon.headers.get("x-error-code")]).toEqual([401, "GatedRepo"]);
    const denied = await fetch(`${hub.url}/org/m/resolve/main/config.json`, { headers: { Authorization: "Bearer hf_x" } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: string }).error).toMatch(/restricted and you are not in the authorized list/);
    hub.admin.addToken("hf_alice", "alice");
    hub.admin.setGated("org/m", "auto", ["alice"]);
    expect((await fetch(`${hub.url}/org/m/resolve/main/config.json`, { headers: { Authorization: "Bearer hf_alice" } })).status).toBe(200);
    const info = await modelInfo({ name: "org/m", hubUrl: hub.url });
    expect(info.gated).toBe("auto");
  });

  it("returns only the expanded fields when expand= is given", async () => {
    const body = (await (await fetch(`${hub.url}/api/models/org/m?expand=sha&expand=private`)).json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["_id", "id", "private", "sha"]);
    const full = (await (await fetch(`${hub.url}/api/models/org/m`)).json()) as Record<string, unknown>;
    expect(full.siblings).toBeDefined();
  });

  it("rejects an LFS upload whose content does not match its oid", async () => {
    const res = await fetch(`${hub.url}/__lfs/upload/${"0".repeat(64)}?size=3`, { method: "PUT", body: "abc" });
    expect(res.status).toBe(400);
  });

  it("injected faults apply to the next N matching requests only", async () => {
    hub.admin.injectFault({ path: "/api/models/org/m", status: 503, count: 2 });
    expect((await fetch(`${hub.url}/api/models/org/m`)).status).toBe(503);
    expect((await fetch(`${hub.url}/org/m/resolve/main/config.json`)).status).toBe(200);
    expect((await fetch(`${hub.url}/api/models/org/m`)).status).toBe(503);
    expect((await fetch(`${hub.url}/api/models/org/m`)).status).toBe(200);
    hub.admin.injectFault({ path: "/org/m/resolve/", truncateAfter: 100 });
    await expect(downloadFile({ repo: "org/m", path: "model.safetensors", hubUrl: hub.url }).then((b) => b!.arrayBuffer())).rejects.toThrow();
  });

  it("keeps repos on disk across restarts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hub-persist-"));
    try {
      const a = await startLocalHub({ dir });
      a.admin.createRepo("x/y", { files: { "f.txt": "persisted" } });
      const sha = a.admin.repo("x/y")!.branches.main;
      await a.close();
      const b = await startLocalHub({ dir });
      expect(await (await fetch(`${b.url}/x/y/resolve/${sha}/f.txt`)).text()).toBe("persisted");
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("local Hub webhooks", () => {
  it("POSTs the Hub's v3 payload with the secret after a commit that tags the card", async () => {
    const { createServer } = await import("node:http");
    const received: Array<{ secret: string | undefined; body: any }> = [];
    const receiver = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => (text += c));
      req.on("end", () => {
        received.push({ secret: req.headers["x-webhook-secret"] as string | undefined, body: JSON.parse(text) });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const port = (receiver.address() as { port: number }).port;
    try {
      hub.admin.addWebhook({ url: `http://127.0.0.1:${port}/hook`, secret: "s3cret" });
      const sha = hub.admin.commit("org/m", { "README.md": "---\ntags:\n- expo\n---\n# m\n" }, { title: "Tag expo" });
      const deliveries = await hub.admin.webhooksSettled();
      expect(deliveries).toEqual([expect.objectContaining({ repo: "org/m", headSha: sha, status: 202 })]);
      expect(received).toHaveLength(1);
      expect(received[0].secret).toBe("s3cret");
      expect(received[0].body).toMatchObject({
        event: { action: "update", scope: "repo.content" },
        repo: { type: "model", name: "org/m", headSha: sha, tags: expect.arrayContaining(["expo"]) },
        updatedRefs: [{ ref: "refs/heads/main", newSha: sha }],
        webhook: { version: 3 },
      });
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });
});

describe("local Hub webhooks: scopes, main's head, moves", () => {
  it("sends repo, repo.content and discussion events to hooks subscribed to them, with main's head sha", async () => {
    const { createServer } = await import("node:http");
    const received: Array<{ path: string; body: any }> = [];
    const receiver = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => (text += c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: JSON.parse(text) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    try {
      hub.admin.addWebhook({ url: `${base}/all?secret=s` });
      hub.admin.addWebhook({ url: `${base}/content`, scopes: ["repo.content"] });
      const main = hub.admin.repo("org/m")!.branches.main!;
      const devSha = hub.admin.commit("org/m", { "dev.txt": "x" }, { branch: "dev" });
      hub.admin.createRepo("org/fresh");
      hub.admin.renameRepo("org/fresh", "org/renamed");
      const d = await fetch(`${hub.url}/api/models/org/m/discussions`, { method: "POST", headers: { Authorization: "Bearer hf_x", "Content-Type": "application/json" }, body: JSON.stringify({ title: "Hello there", description: "hi" }) });
      expect(d.status).toBe(200);
      await hub.admin.webhooksSettled();
      const all = received.filter((r) => r.path === "/all?secret=s").map((r) => r.body);
      expect(all.map((b) => `${b.event.scope}/${b.event.action}`)).toEqual(["repo.content/update", "repo/create", "repo/move", "discussion/create"]);
      // A push to dev: updatedRefs names dev, but headSha is main's head, as on the Hub.
      expect(all[0]).toMatchObject({ repo: { name: "org/m", headSha: main }, updatedRefs: [{ ref: "refs/heads/dev", newSha: devSha }], webhook: { version: 3 } });
      expect(all[2]).toMatchObject({ repo: { name: "org/fresh" }, movedTo: { name: "org/renamed" } });
      expect(all[3]).toMatchObject({ repo: { name: "org/m" }, discussion: { num: 1, title: "Hello there", isPullRequest: false } });
      expect(received.filter((r) => r.path === "/content").map((r) => r.body.event.scope)).toEqual(["repo.content"]);
      // The old name now answers 307 to the new one.
      const moved = await fetch(`${hub.url}/api/models/org/fresh?expand=sha`, { redirect: "manual" });
      expect([moved.status, moved.headers.get("location")]).toEqual([307, "/api/models/org/renamed?expand=sha"]);
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });
});

describe("local Hub compression and listings", () => {
  it("gzips or brotlis JSON when asked, with the compressed Content-Length; never a range", async () => {
    const { request } = await import("node:http");
    const raw = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }>((resolve, reject) => {
        const req = request(`${hub.url}${path}`, { headers }, (res) => {
          let bytes = 0;
          res.on("data", (c: Buffer) => (bytes += c.length));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, bytes }));
        });
        req.on("error", reject);
        req.end();
      });
    const gz = await raw("/api/models/org/m", { "Accept-Encoding": "gzip" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(Number(gz.headers["content-length"])).toBe(gz.bytes);
    expect((await raw("/api/models/org/m", { "Accept-Encoding": "gzip, br" })).headers["content-encoding"]).toBe("br");
    expect((await raw("/api/models/org/m", {})).headers["content-encoding"]).toBeUndefined();
    expect((await raw("/org/m/resolve/main/config.json", { "Accept-Encoding": "gzip", Range: "bytes=0-3" })).headers["content-encoding"]).toBeUndefined();
    const off = await startLocalHub({ realHub: false });
    try {
      off.admin.createRepo("org/m", { files: { "model.safetensors": weights } });
      const plain = await fetch(`${off.url}/api/models/org/m`);
      expect(plain.headers.get("content-encoding")).toBeNull();
      expect((await fetch(`${off.url}/org/m/resolve/main/model.safetensors`, { redirect: "manual" })).status).toBe(200);
    } finally {
      await off.close();
    }
  });

  it("sorts model listings by sort/direction (descending unless direction=1)", async () => {
    // Apart in time (dates have millisecond resolution), and with ids in the other order.
    const tick = () => new Promise((r) => setTimeout(r, 5));
    hub.admin.createRepo("b/first", {});
    await tick();
    hub.admin.createRepo("a/second", {});
    await tick();
    hub.admin.commit("b/first", { "x.txt": "newer" });
    const ids = async (q: string) => ((await (await fetch(`${hub.url}/api/models?${q}`)).json()) as { id: string }[]).map((m) => m.id);
    expect((await ids("sort=lastModified")).slice(0, 2)).toEqual(["b/first", "a/second"]);
    expect((await ids("sort=lastModified&direction=1")).slice(-2)).toEqual(["a/second", "b/first"]);
    expect((await ids("sort=createdAt")).slice(0, 2)).toEqual(["a/second", "b/first"]);
    expect((await fetch(`${hub.url}/api/models?sort=nonsense`)).status).toBe(400);
  });
});
