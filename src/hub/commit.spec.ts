import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModelRepo } from "./create-repo.js";
import { commitFiles } from "./commit.js";
import { listRepoFiles } from "./list-files.js";
import { readTextFile } from "./read-file.js";
import { getModelInfo } from "./model-info.js";
import { openHubSafetensors } from "./safetensors.js";
import { getTokenUser } from "./who-am-i.js";
import { HubAuthError, HubConflictError, HubError } from "./errors.js";
import { f32, startFixture, tinyModel, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
let dir: string;
beforeEach(async () => {
  fx = await startFixture();
  dir = await mkdtemp(join(tmpdir(), "commit-"));
});
afterEach(async () => {
  await fx.hub.close();
  await rm(dir, { recursive: true, force: true });
});

describe("createModelRepo", () => {
  it("creates a repo, and with existOk accepts an existing one", async () => {
    const res = await createModelRepo({ client: fx.client, repo: "expo-bot/model-ExPO" });
    expect(res).toEqual({ repo: "expo-bot/model-ExPO", url: `${fx.hub.url}/expo-bot/model-ExPO`, created: true });
    expect((await getModelInfo({ client: fx.client, repo: "expo-bot/model-ExPO" })).files).toEqual([".gitattributes"]);
    await expect(createModelRepo({ client: fx.client, repo: "expo-bot/model-ExPO" })).rejects.toThrow(HubConflictError);
    expect((await createModelRepo({ client: fx.client, repo: "expo-bot/model-ExPO", existOk: true })).created).toBe(false);
  });

  it("needs a token", async () => {
    await expect(createModelRepo({ client: fx.anon, repo: "expo-bot/x" })).rejects.toThrow(HubAuthError);
  });
});

describe("commitFiles (preupload → LFS basic transfer → NDJSON commit)", () => {
  it("uploads LFS and regular files (bytes, text, local file), then reads them back", async () => {
    await createModelRepo({ client: fx.client, repo: "expo-bot/out" });
    const weights = tinyModel(5);
    const local = join(dir, "generation_config.json");
    await writeFile(local, JSON.stringify({ temperature: 0.7 }));
    const res = await commitFiles({
      client: fx.client,
      repo: "expo-bot/out",
      title: "Upload ExPO model",
      description: "alpha = 0.3",
      files: [
        { path: "model.safetensors", content: { bytes: weights } },
        { path: "README.md", content: { text: "---\nlicense: mit\ntags: [expo, merge]\n---\n# out\n" } },
        { path: "generation_config.json", content: { localPath: local } },
      ],
    });
    expect(res.commitOid).toMatch(/^[0-9a-f]{40}$/);
    expect(res.commitUrl).toBe(`${fx.hub.url}/expo-bot/out/commit/${res.commitOid}`);
    const paths = fx.hub.admin.requests.map((r) => `${r.method} ${r.path.split("?")[0]}`);
    expect(paths).toContain("POST /api/models/expo-bot/out/preupload/main");
    expect(paths).toContain("POST /expo-bot/out.git/info/lfs/objects/batch");
    expect(paths.some((p) => p.startsWith("PUT /__lfs/upload/"))).toBe(true);
    expect(paths).toContain("POST /api/models/expo-bot/out/commit/main");

    const files = await listRepoFiles({ client: fx.client, repo: "expo-bot/out" });
    const st = files.find((f) => f.path === "model.safetensors")!;
    expect(st.lfsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(st.size).toBe(weights.byteLength);
    expect(files.find((f) => f.path === "README.md")!.lfsSha256).toBeUndefined();
    const info = await getModelInfo({ client: fx.client, repo: "expo-bot/out" });
    expect(info.sha).toBe(res.commitOid);
    expect(info.tags).toEqual(expect.arrayContaining(["expo", "merge", "license:mit"]));
    expect(JSON.parse((await readTextFile({ client: fx.client, repo: "expo-bot/out", path: "generation_config.json" }))!)).toEqual({ temperature: 0.7 });
    const file = await openHubSafetensors({ client: fx.client, repo: "expo-bot/out", path: "model.safetensors", revision: res.commitOid });
    expect(await file.readTensor("model.norm.weight")).toEqual(f32([8], 7));
    expect(fx.hub.admin.repo("expo-bot/out")!.commits[res.commitOid]!.author).toBe("expo-bot");
  });

  it("skips the upload of an LFS object the Hub already has", async () => {
    await createModelRepo({ client: fx.client, repo: "expo-bot/out" });
    await commitFiles({ client: fx.client, repo: "expo-bot/out", title: "one", files: [{ path: "a.safetensors", content: { bytes: tinyModel(9) } }] });
    fx.hub.admin.clearRequests();
    await commitFiles({ client: fx.client, repo: "expo-bot/out", title: "two", files: [{ path: "b.safetensors", content: { bytes: tinyModel(9) } }] });
    expect(fx.hub.admin.requests.some((r) => r.method === "PUT")).toBe(false);
    expect((await listRepoFiles({ client: fx.client, repo: "expo-bot/out" })).map((f) => f.path)).toContain("b.safetensors");
  });

  it("deletes files, and refuses a stale parentCommit", async () => {
    const before = fx.hub.admin.repo("org/aligned")!.branches.main!;
    await commitFiles({ client: fx.client, repo: "org/aligned", title: "rm", deletes: ["config.json"] });
    expect((await getModelInfo({ client: fx.client, repo: "org/aligned" })).files).not.toContain("config.json");
    const err = commitFiles({ client: fx.client, repo: "org/aligned", title: "late", parentCommit: before, files: [{ path: "x.txt", content: { text: "x" } }] });
    await expect(err).rejects.toThrow(HubError);
    await expect(err).rejects.toThrow(/412|commit has happened/);
  });

  it("needs a token, and reports who the token is", async () => {
    await expect(commitFiles({ client: fx.anon, repo: "org/aligned", title: "t", files: [] })).rejects.toThrow(HubAuthError);
    expect(await getTokenUser({ client: fx.client })).toEqual({ name: "expo-bot", type: "user" });
    await expect(getTokenUser({ client: fx.anon })).rejects.toThrow(HubAuthError);
  });
});

describe("Xet", () => {
  it("is offered by default and falls back to LFS when the Hub answers basic; useXet:false offers plain LFS only", async () => {
    expect(fx.client.useXet).toBe(true);
    await createModelRepo({ client: fx.client, repo: "expo-bot/xet" });
    const weights = tinyModel(7);
    await commitFiles({ client: fx.client, repo: "expo-bot/xet", title: "weights", files: [{ path: "model.safetensors", content: { bytes: weights } }] });
    const batches = () => fx.hub.admin.requests.filter((r) => r.path.endsWith("/info/lfs/objects/batch"));
    expect(batches().at(-1)!.transfers).toContain("xet");
    const file = await openHubSafetensors({ client: fx.client, repo: "expo-bot/xet", path: "model.safetensors" });
    expect(await file.readTensor("model.norm.weight")).toEqual(f32([8], 9));
    await commitFiles({ client: fx.client, repo: "expo-bot/xet", title: "more", files: [{ path: "b.safetensors", content: { bytes: tinyModel(8) } }], useXet: false });
    expect(batches().at(-1)!.transfers).toEqual(["basic", "multipart"]);
  });
});

describe("multipart LFS", () => {
  it("uploads an object bigger than the Hub's chunk size in parts, streamed to disk, and reads it back", async () => {
    const hub = await startFixture({ multipartChunkSize: 64 * 1024 });
    try {
      const big = new Uint8Array(200 * 1024).map((_, i) => (i * 31) % 251);
      await createModelRepo({ client: hub.client, repo: "expo-bot/big" });
      await commitFiles({ client: hub.client, repo: "expo-bot/big", title: "big", files: [{ path: "weights.bin", content: { bytes: big } }] });
      const parts = hub.hub.admin.requests.filter((r) => r.method === "PUT" && r.path.startsWith("/__lfs/multipart/"));
      expect(parts).toHaveLength(4);
      expect(hub.hub.admin.requests.some((r) => r.method === "POST" && /\/__lfs\/multipart\/[0-9a-f]+\/complete$/.test(r.path) && r.status === 200)).toBe(true);
      const files = await listRepoFiles({ client: hub.client, repo: "expo-bot/big" });
      expect(files.find((f) => f.path === "weights.bin")).toMatchObject({ size: big.byteLength });
      const res = await hub.client.fetch(`${hub.hub.url}/expo-bot/big/resolve/main/weights.bin`, { headers: { Range: "bytes=100000-100009" } });
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(big.subarray(100_000, 100_010));
    } finally {
      await hub.hub.close();
    }
  });
});
