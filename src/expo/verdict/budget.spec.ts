/**
 * The byte budget where it means something: a generated pair big enough (hidden 512,
 * 8 layers, 21M parameters, 85 MB of F32 per model, 4 shards) that 0.1 % is 85 kB. Checked
 * from local folders and over HTTP against the local Hub, counting what the server sent.
 * (On the tiny models of the other specs the floor `minSampleBytes` dominates.)
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalHub, type LocalHub } from "../../hub-server/index.js";
import { deriveTinyModel, writeTinyModel } from "../../synthetic/tiny-model.js";
import { checkPair } from "./check.js";

const root = await mkdtemp(join(tmpdir(), "expo-verdict-budget-"));
let hub: LocalHub;

beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "sft"), hiddenSize: 512, layers: 8, heads: 8, shards: 4, seed: 1 });
  await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "dpo"), relativeDelta: 0.01, shards: 4, card: { base_model: "big/sft" } });
  hub = await startLocalHub();
  for (const name of ["sft", "dpo"]) {
    const files: Record<string, Uint8Array> = {};
    for (const f of await readdir(join(root, name))) files[f] = await readFile(join(root, name, f));
    hub.admin.createRepo(`big/${name}`, { files });
  }
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

describe("byte and request budget", () => {
  it("reads under 0.1 % of each checkpoint from local folders, a few reads per shard", async () => {
    const v = await checkPair({ sft: join(root, "sft"), aligned: join(root, "dpo") });
    expect(v.verdict).toBe("pass");
    expect(v.sft.dataBytes).toBeGreaterThan(80_000_000);
    expect(v.sft.shards).toBe(4);
    for (const u of [v.usage.sft, v.usage.aligned]) {
      expect(u.fraction).toBeLessThan(0.001);
      expect(u.headers.requests).toBe(1 + 2 * 4); // index + two reads per shard
      expect(u.samples.requests).toBe(v.tensors.length);
      expect(u.samples.bytes).toBeLessThanOrEqual(v.thresholds.sampleFraction * v.sft.dataBytes);
    }
    expect(v.usage.fraction).toBeLessThan(0.001);
  });

  it("over HTTP: under 0.1 % of the bytes counted by the server, a constant number of requests per shard", async () => {
    hub.admin.clearRequests();
    const v = await checkPair({ sft: "big/sft", aligned: "big/dpo", hub: { hubUrl: hub.url } });
    expect(v.verdict).toBe("pass");
    expect(v.lineage.status).toBe("confirmed");
    const served = hub.admin.requests;
    const sentBytes = served.reduce((a, r) => a + r.bytes, 0);
    expect(v.usage.requests).toBe(served.length);
    expect(sentBytes / (v.sft.dataBytes + v.aligned.dataBytes)).toBeLessThan(0.001);
    expect(v.usage.fraction).toBeLessThan(0.001);
    const perShard = new Map<string, number>();
    for (const r of served) if (r.path.endsWith(".safetensors")) perShard.set(r.path, (perShard.get(r.path) ?? 0) + 1);
    expect(perShard.size).toBe(8);
    for (const n of perShard.values()) expect(n).toBeLessThanOrEqual(2 + v.thresholds.maxSamplesPerShard);
    // Requests per model: model info, listing, five small files (config, tokenizer, tokenizer
    // config, card, index; the library probes each with a 1-byte range first), two per shard
    // for its header, one per sampled tensor.
    for (const u of [v.usage.sft, v.usage.aligned]) expect(u.requests).toBeLessThanOrEqual(2 + 2 * 5 + 2 * 4 + v.tensors.length);
    console.log(`budget: ${v.usage.bytes} B in ${v.usage.requests} requests for ${v.sft.dataBytes + v.aligned.dataBytes} B of checkpoints (${(v.usage.fraction * 100).toFixed(3)} %); server sent ${sentBytes} B`);
  });
});
