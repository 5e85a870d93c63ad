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
