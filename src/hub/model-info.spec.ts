import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { getModelInfo } from "./model-info.js";
import { listRepoFiles } from "./list-files.js";
import { HubNotFoundError } from "./errors.js";
import { startFixture, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture({ treePageSize: 2 });
});
afterEach(async () => {
  await fx.hub.close();
});

describe("getModelInfo (real client against the local Hub)", () => {
  it("returns card data, tags, sha, licence, base models and files", async () => {
    const info = await getModelInfo({ client: fx.client, repo: "org/aligned" });
    expect(info.repo).toBe("org/aligned");
    expect(info.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(info.sha).toBe(fx.hub.admin.repo("org/aligned")!.branches.main);
    expect(info.cardData?.base_model).toBe("org/sft");
    expect(info.baseModels).toEqual(["org/sft"]);
    expect(info.tags).toContain("expo");
    expect(info.tags).toContain("license:apache-2.0");
    expect(info.license).toBe("apache-2.0");
    expect(info.private).toBe(false);
    expect(info.gated).toBe(false);
    expect(info.pipelineTag).toBe("text-generation");
    expect(info.libraryName).toBe("transformers");
    expect(info.files).toEqual([".gitattributes", "README.md", "config.json", "model.safetensors"]);
    expect(info.safetensors?.total).toBe(16 * 8 + 64 + 8);
    expect(info.config?.model_type).toBe("llama");
  });

  it("resolves an older revision by sha after a new commit on main", async () => {
    const first = fx.hub.admin.repo("org/aligned")!.branches.main!;
    fx.hub.admin.commit("org/aligned", { "README.md": "---\nlicense: mit\n---\n" });
    const now = await getModelInfo({ client: fx.client, repo: "org/aligned" });
    const then = await getModelInfo({ client: fx.client, repo: "org/aligned", revision: first });
    expect(now.sha).not.toBe(first);
    expect(now.license).toBe("mit");
    expect(then.sha).toBe(first);
    expect(then.license).toBe("apache-2.0");
  });

  it("gives HubNotFoundError for a missing repo or revision, naming it", async () => {
    await expect(getModelInfo({ client: fx.client, repo: "org/missing" })).rejects.toThrow(HubNotFoundError);
    await expect(getModelInfo({ client: fx.client, repo: "org/missing" })).rejects.toThrow(/org\/missing/);
    await expect(getModelInfo({ client: fx.client, repo: "org/aligned", revision: "nope" })).rejects.toThrow(/revision not found/);
  });

  it("hides a private repo from a client without a token", async () => {
    fx.hub.admin.setPrivate("org/aligned", true);
    await expect(getModelInfo({ client: fx.anon, repo: "org/aligned" })).rejects.toThrow(HubNotFoundError);
    expect((await getModelInfo({ client: fx.client, repo: "org/aligned" })).private).toBe(true);
  });

  it("reports gated repos (their metadata stays readable)", async () => {
    fx.hub.admin.setGated("org/aligned", "manual");
    expect((await getModelInfo({ client: fx.anon, repo: "org/aligned" })).gated).toBe("manual");
  });
});

describe("listRepoFiles", () => {
  it("lists every file recursively with sizes and LFS sha256, across pages", async () => {
    fx.hub.admin.commit("org/aligned", { "sub/dir/a.txt": "a", "sub/b.txt": "bb" });
    const files = await listRepoFiles({ client: fx.client, repo: "org/aligned" });
    expect(files.map((f) => f.path).sort()).toEqual([".gitattributes", "README.md", "config.json", "model.safetensors", "sub/b.txt", "sub/dir/a.txt"]);
    const st = files.find((f) => f.path === "model.safetensors")!;
    expect(st.lfsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(files.find((f) => f.path === "sub/b.txt")!.size).toBe(2);
    // treePageSize 2 → the client followed Link rel="next"
    expect(fx.hub.admin.requests.filter((r) => r.path.includes("/tree/")).length).toBeGreaterThan(2);
  });
});
