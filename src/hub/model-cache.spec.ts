import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHubClient } from "./client.js";
import { HubOfflineError } from "./errors.js";
import { cachedModel, hfHubCacheDir, modelCacheDir } from "./model-cache.js";
import { rejectionOf, startFixture, tinyModel, TOKEN, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
let cacheDir: string;

beforeEach(async () => {
  fx = await startFixture();
  cacheDir = await mkdtemp(join(tmpdir(), "model-cache-"));
});
afterEach(async () => {
  await fx.hub.close();
  await rm(cacheDir, { recursive: true, force: true });
});

describe("cachedModel (a Hub id as a local folder, like from_pretrained)", () => {
  it("downloads once into models--owner--name/snapshots/<commit>, then reuses it; offline it reads only the cache", async () => {
    const commit = fx.hub.admin.repo("org/aligned")!.branches.main!;
    const first = await cachedModel({ client: fx.client, ref: { repo: "org/aligned" }, cacheDir });
    expect(first.commit).toBe(commit);
    expect(first.dir).toBe(join(cacheDir, "models--org--aligned", "snapshots", commit));
    expect(first.bytesDownloaded).toBeGreaterThan(0);
    expect(new Uint8Array(await readFile(join(first.dir, "model.safetensors")))).toEqual(tinyModel(1));
    expect((await readFile(join(cacheDir, "models--org--aligned", "refs", "main"), "utf8")).trim()).toBe(commit);

    const again = await cachedModel({ client: fx.client, ref: { repo: "org/aligned" }, cacheDir });
    expect(again).toMatchObject({ dir: first.dir, bytesDownloaded: 0 });

    // A commit id is immutable: served from the cache without a request.
    fx.hub.admin.clearRequests();
    await cachedModel({ client: fx.client, ref: { repo: "org/aligned", revision: commit }, cacheDir });
    expect(fx.hub.admin.requests).toHaveLength(0);

    const offline = createHubClient({ token: TOKEN, hubUrl: fx.hub.url, offline: true });
    expect((await cachedModel({ client: offline, ref: { repo: "org/aligned" }, cacheDir })).dir).toBe(first.dir);
    expect(fx.hub.admin.requests).toHaveLength(0);
    const miss = await rejectionOf(cachedModel({ client: offline, ref: { repo: "org/other" }, cacheDir }));
    expect(miss).toBeInstanceOf(HubOfflineError);
    expect(miss.message).toMatch(/HF_HUB_OFFLINE is set and org\/other@main is not in the cache/);
  });

  it("falls back to the cached copy when the Hub is unreachable", async () => {
    const first = await cachedModel({ client: fx.client, ref: { repo: "org/aligned" }, cacheDir });
    const url = fx.hub.url;
    await fx.hub.close();
    const notes: string[] = [];
    const down = createHubClient({ hubUrl: url, sleep: async () => undefined });
    const r = await cachedModel({ client: down, ref: { repo: "org/aligned" }, cacheDir, log: (l) => notes.push(l) });
    expect(r.dir).toBe(first.dir);
    expect(notes.join("\n")).toMatch(/the Hub is unreachable; using the cached copy/);
    fx = await startFixture();
  });

  it("lives under HF_HOME (EXPO_BOT_CACHE overrides) and reads huggingface_hub's cache offline", () => {
    expect(modelCacheDir({ HF_HOME: "/h" })).toBe(join("/h", "expo-bot"));
    expect(modelCacheDir({ HF_HOME: "/h", EXPO_BOT_CACHE: "/c" })).toBe("/c");
    expect(hfHubCacheDir({ HF_HOME: "/h" })).toBe(join("/h", "hub"));
    expect(hfHubCacheDir({ HF_HOME: "/h", HF_HUB_CACHE: "/x" })).toBe("/x");
  });
});
