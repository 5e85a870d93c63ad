/**
 * The verdict over HTTP: the real @huggingface/hub client (through src/hub) against the
 * local Hub-compatible server (src/hub-server), with its fault injection.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalHub, type LocalHub } from "../../hub-server/index.js";
import { HubGatedError, HubNotFoundError } from "../../hub/errors.js";
import { deriveTinyModel, writeTinyModel } from "../../synthetic/tiny-model.js";
import { checkPair } from "./check.js";
import type { HubSettings } from "./source.js";

const TOKEN = "hf_verdict_test_token_0001";
const root = await mkdtemp(join(tmpdir(), "expo-verdict-hub-"));
let hub: LocalHub;
let settings: HubSettings;

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name));
  return out;
}

function hostileSafetensors(headerLength: bigint, json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, headerLength, true);
  out.set(body, 8);
  return out;
}

beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "sft"), seed: 3, shards: 2, card: { tags: ["chat"] } });
  await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "dpo"), relativeDelta: 0.01, card: { base_model: "org/sft", tags: ["expo"] } });
  await writeTinyModel({ dir: join(root, "other"), seed: 42, card: { base_model: "org/sft" } });
  hub = await startLocalHub({ lfsThreshold: 1024 });
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("org/sft", { files: await folderFiles(join(root, "sft")) });
  hub.admin.createRepo("org/dpo", { files: await folderFiles(join(root, "dpo")) });
  hub.admin.createRepo("org/other", { files: await folderFiles(join(root, "other")) });
  const dpo = await folderFiles(join(root, "dpo"));
  hub.admin.createRepo("org/dpo-hostile", { files: { ...dpo, "model.safetensors": hostileSafetensors(10n ** 12n, "{}") } });
  const whole = dpo["model.safetensors"]!;
  hub.admin.createRepo("org/dpo-truncated", { files: { ...dpo, "model.safetensors": whole.subarray(0, 100) } });
  settings = { hubUrl: hub.url, token: TOKEN, sleep: async () => {}, retry: { maxRetries: 3 } };
});
afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  hub.admin.clearFaults();
  hub.admin.clearRequests();
});

describe("checkPair through the local Hub", () => {
  it("passes the same-lineage pair with the same numbers as from local folders, lineage from the Hub ids", async () => {
    const v = await checkPair({ sft: "org/sft", aligned: "org/dpo@main", hub: settings });
    expect(v.verdict).toBe("pass");
    expect(v.lineage).toMatchObject({ status: "confirmed", via: "base_model" });
    expect(v.sft).toMatchObject({ kind: "hub", id: "org/sft", shards: 2 });
    expect(v.aligned.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(v.aligned.revision).toBe("main");
    const local = await checkPair({ sft: join(root, "sft"), aligned: join(root, "dpo") });
    expect(v.tensors).toEqual(local.tensors);
    // Every request is accounted for: what the server saw is what the report says.
    expect(v.usage.requests).toBe(hub.admin.requests.length);
    expect(v.usage.sft.httpRequests).not.toBeNull();
    // Tensor data came by range requests of exactly the sampled blocks, never whole files.
    const weightReads = hub.admin.requests.filter((r) => r.path.endsWith(".safetensors") && r.method === "GET");
    expect(weightReads.every((r) => r.range !== undefined && r.status === 206)).toBe(true);
    // Per shard: two header reads and at most maxSamplesPerShard sample reads.
    const perShard = new Map<string, number>();
    for (const r of weightReads) perShard.set(r.path, (perShard.get(r.path) ?? 0) + 1);
    for (const n of perShard.values()) expect(n).toBeLessThanOrEqual(2 + v.thresholds.maxSamplesPerShard);
  });

  it("refuses an independently initialised pair over HTTP", async () => {
    const v = await checkPair({ sft: "org/sft", aligned: "org/other", hub: settings });
    expect(v.verdict).toBe("refuse");
    expect(v.lineage.status).toBe("confirmed"); // the card claims it; the weights say otherwise
    expect(v.reasons[0]!.code).toBe("weights-unrelated");
  });

  it("throws a HubGatedError naming the repo for a gated θ0 the token cannot read", async () => {
    hub.admin.createRepo("org/sft-gated", { files: await folderFiles(join(root, "sft")), gated: "manual" });
    const err = await checkPair({ sft: "org/sft-gated", aligned: "org/dpo", hub: settings }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubGatedError);
    expect((err as Error).message).toContain("org/sft-gated");
    expect((err as Error).message).toMatch(/gated/);
    // Once approved, the same check runs.
    hub.admin.setGated("org/sft-gated", "manual", ["expo-bot"]);
    const v = await checkPair({ sft: "org/sft-gated", aligned: "org/dpo", hub: settings });
    expect(v.verdict).toBe("warn"); // card names org/sft, not org/sft-gated
    expect(v.reasons.map((r) => r.code)).toContain("lineage-mismatch");
  });

  it("throws a HubNotFoundError for a repo or revision that does not exist", async () => {
    await expect(checkPair({ sft: "org/nope", aligned: "org/dpo", hub: settings })).rejects.toThrow(HubNotFoundError);
    await expect(checkPair({ sft: "org/sft", aligned: "org/dpo@no-such-branch", hub: settings })).rejects.toThrow(HubNotFoundError);
  });

  it("rides out a 429 (honouring RateLimit) and then succeeds, counting the retry", async () => {
    hub.admin.injectFault({ path: "/org/dpo/resolve/", method: "GET", status: 429, headers: { RateLimit: '"api";r=0;t=2' }, count: 1 });
    const sleeps: number[] = [];
    const v = await checkPair({ sft: "org/sft", aligned: "org/dpo", hub: { ...settings, sleep: async (ms) => void sleeps.push(ms) } });
    expect(v.verdict).toBe("pass");
    expect(sleeps).toEqual([2000]);
    expect(hub.admin.requests.filter((r) => r.status === 429)).toHaveLength(1);
    expect(v.usage.requests).toBe(hub.admin.requests.length);
  });

  it("refuses θ1 whose safetensors header is hostile or truncated, with the reason", async () => {
    const hostile = await checkPair({ sft: "org/sft", aligned: "org/dpo-hostile", hub: settings });
    expect(hostile.verdict).toBe("refuse");
    const r = hostile.reasons.find((x) => x.code === "weights-unreadable")!;
    expect(r.message).toMatch(/header length 1000000000000 exceeds the limit/);
    expect(r.message).toContain("model.safetensors");
    // The hostile length was never acted on: no huge read was attempted.
    expect(hub.admin.requests.every((q) => q.bytes < 1_000_000)).toBe(true);
    const truncated = await checkPair({ sft: "org/sft", aligned: "org/dpo-truncated", hub: settings });
    expect(truncated.verdict).toBe("refuse");
    expect(truncated.reasons.find((x) => x.code === "weights-unreadable")!.message).toMatch(/runs past the end of the 100-byte file/);
  });

  it("recovers from a range body cut short by the connection", async () => {
    hub.admin.injectFault({ path: "/org/sft/resolve/", method: "GET", truncateAfter: 3, count: 1 });
    const v = await checkPair({ sft: "org/sft", aligned: "org/dpo", hub: settings });
    expect(v.verdict).toBe("pass");
  });
});

describe("child or sibling over the Hub", () => {
  it("reads the base θ1's card names and refuses a sibling of θ0", async () => {
    await writeTinyModel({ dir: join(root, "base"), seed: 9, dtype: "BF16" });
    await deriveTinyModel({ from: join(root, "base"), dir: join(root, "sft2"), relativeDelta: 0.02, seed: 1, dtype: "BF16", card: { base_model: "org/base" } });
    await deriveTinyModel({ from: join(root, "base"), dir: join(root, "sibling"), relativeDelta: 0.02, seed: 2, dtype: "BF16", card: { base_model: "org/base", tags: ["expo", "expo-parent:org/sft2"] } });
    await deriveTinyModel({ from: join(root, "sft2"), dir: join(root, "child"), relativeDelta: 0.01, seed: 3, dtype: "BF16", card: { base_model: "org/base", tags: ["expo"] } });
    for (const name of ["base", "sft2", "sibling", "child"]) hub.admin.createRepo(`org/${name}`, { files: await folderFiles(join(root, name)) });

    // θ1's card claims θ0 as its parent (expo-parent tag): no base is read, the claim stands.
    const claimed = await checkPair({ sft: "org/sft2", aligned: "org/sibling", hub: settings });
    expect(claimed.sibling).toBeUndefined();
    // Given the base, the weights contradict the claim.
    const v = await checkPair({ sft: "org/sft2", aligned: "org/sibling", hub: settings, base: "org/base" });
    expect(v.verdict).toBe("refuse");
    expect(v.reasons.find((r) => r.code === "sibling")!.numbers!.share as number).toBeLessThan(0.3);
    // A child whose card names the pretrained base: the base is read on its own (θ1's one named parent) and clears it.
    const child = await checkPair({ sft: "org/sft2", aligned: "org/child", hub: settings });
    expect(child.sibling).toMatchObject({ base: "org/base", error: null });
    expect(child.reasons.find((r) => r.code === "child-of-sft")!.numbers!.share as number).toBeGreaterThan(0.9);
  });
});
