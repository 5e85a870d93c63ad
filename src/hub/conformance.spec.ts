/**
 * Conformance: every Hub call the project makes, through the real @huggingface/hub client (and
 * our REST calls), against the local Hub with its real-Hub behaviours on — compressed JSON with
 * the compressed Content-Length, LFS downloads redirected (302) to a CDN host on another
 * origin, renamed repos answering 307, listings sorted, multipart LFS, Xet offered and refused.
 * Each test also checks that the behaviour it relies on was really exercised (from the local
 * Hub's request log), so a test cannot pass by the behaviour silently being off.
 * The table in docs/hub.md ("Conformance") names the reference and the test for each row.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serializeSafetensors } from "../safetensors/writer.js";
import { getModelInfo } from "./model-info.js";
import { listRepoFiles } from "./list-files.js";
import { readJsonFile, readTextFile } from "./read-file.js";
import { HubByteSource } from "./byte-source.js";
import { openHubCheckpoint, openHubSafetensors, safetensorsMetadata } from "./safetensors.js";
import { hubFileAccess } from "./file-access.js";
import { snapshotDownload } from "./snapshot-download.js";
import { createModelRepo } from "./create-repo.js";
import { commitFiles } from "./commit.js";
import { listModelsByTag } from "./list-models.js";
import { getTokenUser } from "./who-am-i.js";
import { listDiscussions } from "./list-discussions.js";
import { createDiscussion } from "./create-discussion.js";
import { commentDiscussion, getDiscussion } from "./comment-discussion.js";
import { postToThread } from "./find-discussion.js";
import { HubDiscussionsDisabledError, HubNotFoundError } from "./errors.js";
import { CARD, CONFIG, f32, rejectionOf, startFixture, tinyModel, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
const bigBin = new Uint8Array(300_000).map((_, i) => (i * 13) % 251);
const shard = (seed: number, name: string) => serializeSafetensors([{ name, dtype: "F32", shape: [32, 16], data: f32([32, 16], seed) }]);

beforeAll(async () => {
  // Small pages and a small multipart chunk so pagination and multipart happen with tiny repos.
  fx = await startFixture({ treePageSize: 3, modelsPageSize: 2, multipartChunkSize: 64 * 1024 });
  fx.hub.admin.commit("org/aligned", { "weights/big.bin": bigBin, "notes/a b#c.txt": "odd name" });
  fx.hub.admin.createRepo("org/sharded", {
    files: {
      "README.md": CARD,
      "config.json": CONFIG,
      "model-00001-of-00002.safetensors": shard(1, "a.weight"),
      "model-00002-of-00002.safetensors": shard(2, "b.weight"),
      "model.safetensors.index.json": JSON.stringify({ metadata: {}, weight_map: { "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors" } }),
    },
  });
});
afterAll(async () => {
  await fx.hub.close();
});
beforeEach(() => {
  fx.hub.admin.clearRequests();
});

const log = () => fx.hub.admin.requests;
const compressed = () => log().filter((r) => r.encoding === "gzip" || r.encoding === "br");
const redirectedToCdn = () => log().filter((r) => r.redirected && r.status >= 200 && r.status < 300);

describe("conformance: reads", () => {
  it("model info: compressed JSON with a compressed Content-Length", async () => {
    const info = await getModelInfo({ client: fx.client, repo: "org/aligned" });
    expect(info).toMatchObject({ repo: "org/aligned", baseModels: ["org/sft"], license: "apache-2.0" });
    expect(info.files).toContain("weights/big.bin");
    expect(compressed().some((r) => r.path.startsWith("/api/models/org/aligned"))).toBe(true);
    expect(fx.client.stats.retries).toBe(0);
  });

  it("tree listing: compressed pages followed through Link: rel=next", async () => {
    const files = await listRepoFiles({ client: fx.client, repo: "org/aligned" });
    expect(files.find((f) => f.path === "weights/big.bin")).toMatchObject({ size: bigBin.byteLength, lfsSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const pages = log().filter((r) => r.path.includes("/tree/"));
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.every((r) => r.encoding)).toBe(true);
  });

  it("small files: regular files served (compressed) by the Hub, LFS files by the CDN after a 302", async () => {
    expect(await readJsonFile({ client: fx.client, repo: "org/aligned", path: "config.json" })).toEqual(JSON.parse(CONFIG));
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "notes/a b#c.txt" })).toBe("odd name");
    fx.hub.admin.commit("org/aligned", { "tokenizer.bin": "big vocabulary\0" });
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "tokenizer.bin" })).toBe("big vocabulary\0");
    expect(redirectedToCdn().some((r) => r.path.endsWith("/tokenizer.bin"))).toBe(true);
  });

  it("range reads of LFS files follow the 302 to the CDN, which honours ranges without the token", async () => {
    const file = await openHubSafetensors({ client: fx.client, repo: "org/aligned", path: "model.safetensors" });
    expect(await file.readTensor("model.norm.weight")).toEqual(f32([8], 3));
    const src = new HubByteSource({ client: fx.client, repo: "org/aligned", path: "weights/big.bin" });
    expect(await src.read(123_456, 10)).toEqual(bigBin.subarray(123_456, 123_466));
    const reads = redirectedToCdn().filter((r) => r.range);
    expect(reads.length).toBeGreaterThan(2);
    expect(reads.every((r) => r.status === 206)).toBe(true);
  });

  it("the library's own safetensors parse asks for Xet file info, gets the LFS redirect, and falls back to ranges", async () => {
    const meta = await safetensorsMetadata({ client: fx.client, repo: "org/sharded" });
    expect(meta.sharded).toBe(true);
    const ckpt = await openHubCheckpoint({ client: fx.client, repo: "org/sharded" });
    expect(await ckpt.files.get("model-00002-of-00002.safetensors")!.readTensor("b.weight")).toEqual(f32([32, 16], 2));
    const access = hubFileAccess({ client: fx.client, repo: "org/sharded" });
    expect(await access.exists("model.safetensors.index.json")).toBe(true);
    expect(redirectedToCdn().length).toBeGreaterThan(0);
  });

  it("snapshot download: every file through the CDN redirect, resumed with a range after a cut", async () => {
    const dir = await mkdtemp(join(tmpdir(), "conformance-snap-"));
    try {
      fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", method: "GET", truncateAfter: 100_000, count: 1 });
      const res = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir, include: (p) => p === "weights/big.bin" || p === "config.json" });
      expect(new Uint8Array(await readFile(join(dir, "weights/big.bin")))).toEqual(bigBin);
      expect(await readFile(join(dir, "config.json"), "utf8")).toBe(CONFIG);
      expect(res.files.find((f) => f.path === "weights/big.bin")).toBeDefined();
      expect(redirectedToCdn().some((r) => r.range && /^bytes=[1-9]\d*-$/.test(r.range))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("listing models by tag, newest first with sort=lastModified", async () => {
    fx.hub.admin.createRepo("zz/older", { files: { "README.md": CARD } });
    fx.hub.admin.createRepo("aa/newer", { files: { "README.md": CARD } });
    fx.hub.admin.commit("aa/newer", { "x.txt": "touch" });
    const models = await listModelsByTag({ client: fx.client, tags: ["expo"], sort: "lastModified" });
    const order = models.map((m) => m.repo);
    expect(order.indexOf("aa/newer")).toBeLessThan(order.indexOf("zz/older"));
    expect(models.length).toBeGreaterThan(2);
    expect(log().filter((r) => r.path.startsWith("/api/models?")).every((r) => r.path.includes("sort=lastModified"))).toBe(true);
  });

  it("whoami: the token's user", async () => {
    expect(await getTokenUser({ client: fx.client })).toMatchObject({ name: "expo-bot" });
  });
});

describe("conformance: a renamed repo answers 307 to its new name", () => {
  it("model info, listing, small files and ranges all follow it", async () => {
    fx.hub.admin.createRepo("org/before", { files: { "README.md": CARD, "config.json": CONFIG, "model.safetensors": tinyModel(5) } });
    fx.hub.admin.renameRepo("org/before", "org/after");
    fx.hub.admin.clearRequests();
    expect((await getModelInfo({ client: fx.client, repo: "org/before" })).repo).toBe("org/after");
    expect((await listRepoFiles({ client: fx.client, repo: "org/before" })).map((f) => f.path)).toContain("model.safetensors");
    expect(await readJsonFile({ client: fx.client, repo: "org/before", path: "config.json" })).toEqual(JSON.parse(CONFIG));
    const file = await openHubSafetensors({ client: fx.client, repo: "org/before", path: "model.safetensors" });
    expect(await file.readTensor("model.norm.weight")).toEqual(f32([8], 7));
    expect(log().filter((r) => r.status === 307).length).toBeGreaterThan(3);
    // A name that never existed is still a plain 404.
    expect(await rejectionOf(getModelInfo({ client: fx.client, repo: "org/never" }))).toBeInstanceOf(HubNotFoundError);
  });
});

describe("conformance: writes", () => {
  it("create + commit: Xet offered and refused, multipart for the large object, regular files inline", async () => {
    const fresh = bigBin.map((b) => 255 - b); // not yet in the store, so it is uploaded
    await createModelRepo({ client: fx.client, repo: "expo-bot/conf-ExPO" });
    const out = await commitFiles({
      client: fx.client,
      repo: "expo-bot/conf-ExPO",
      title: "Upload",
      files: [
        { path: "README.md", content: { text: CARD } },
        { path: "weights/big.bin", content: { bytes: fresh } },
        { path: "model.safetensors", content: { bytes: tinyModel(9) } },
      ],
    });
    expect(out.commitOid).toMatch(/^[0-9a-f]{40}$/);
    const batch = log().find((r) => r.path.endsWith("/info/lfs/objects/batch"))!;
    expect(batch.transfers).toEqual(expect.arrayContaining(["basic", "multipart", "xet"]));
    expect(log().filter((r) => r.method === "PUT" && r.path.startsWith("/__lfs/multipart/") && r.status === 200)).toHaveLength(Math.ceil(fresh.byteLength / (64 * 1024)));
    const src = new HubByteSource({ client: fx.client, repo: "expo-bot/conf-ExPO", path: "weights/big.bin", revision: out.commitOid });
    expect(await src.read(299_990, 10)).toEqual(fresh.subarray(299_990));
  });

  it("discussions: list, create, comment, read back; one listing per post; disabled is recognised", async () => {
    const d = await createDiscussion({ client: fx.client, repo: "org/sharded", title: "ExPO report", description: "first" });
    await commentDiscussion({ client: fx.client, repo: "org/sharded", num: d.num, comment: "second" });
    expect((await getDiscussion({ client: fx.client, repo: "org/sharded", num: d.num })).comments.map((c) => c.content)).toEqual(["first", "second"]);
    expect((await listDiscussions({ client: fx.client, repo: "org/sharded" })).map((x) => x.num)).toContain(d.num);
    fx.hub.admin.clearRequests();
    await postToThread({ client: fx.client, repo: "org/sharded", author: "expo-bot", title: "ExPO report", comment: "third" });
    expect(log().filter((r) => r.method === "GET" && r.path.includes("/discussions?"))).toHaveLength(1);
    expect(compressed().some((r) => r.path.includes("/discussions"))).toBe(true);
    fx.hub.admin.setDiscussionsDisabled("org/sharded", true);
    expect(await rejectionOf(listDiscussions({ client: fx.client, repo: "org/sharded" }))).toBeInstanceOf(HubDiscussionsDisabledError);
  });
});
