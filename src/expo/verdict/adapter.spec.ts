/** `check` with a PEFT LoRA adapter as θ1: local folders and the local Hub. */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalHub, type LocalHub } from "../../hub-server/index.js";
import { writeTinyAdapter } from "../../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../../synthetic/tiny-model.js";
import { checkPair } from "./check.js";

const TOKEN = "hf_adapter_check_token_01";
const root = await mkdtemp(join(tmpdir(), "expo-adapter-check-"));
const sft = join(root, "sft");
let hub: LocalHub;

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name));
  return out;
}

beforeAll(async () => {
  await writeTinyModel({ dir: sft, seed: 3, hiddenSize: 32, heads: 4 });
  await writeTinyModel({ dir: join(root, "other"), seed: 8, hiddenSize: 48, heads: 4 });
  await writeTinyAdapter({ base: sft, dir: join(root, "lora"), baseModelName: "org/sft", r: 4, loraAlpha: 8, relativeUpdate: 0.02 });
  await writeTinyAdapter({ base: sft, dir: join(root, "dora"), baseModelName: "org/sft", useDora: true });
  await writeTinyAdapter({ base: join(root, "other"), dir: join(root, "wrong"), baseModelName: "org/other" });
  await writeTinyAdapter({ base: sft, dir: join(root, "untrained"), baseModelName: "org/sft", factors: (_m, { out, in: inF, rank }) => ({ a: new Float64Array(rank * inF).fill(0.1), b: new Float64Array(out * rank) }) });
  hub = await startLocalHub({ lfsThreshold: 1024 });
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("org/sft", { files: await folderFiles(sft) });
  hub.admin.createRepo("org/sft-lora", { files: await folderFiles(join(root, "lora")) });
});
afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

describe("check: a LoRA adapter as θ1", () => {
  it("passes an adapter that fits θ0 and reports r, s and the sampled relative update", async () => {
    const v = await checkPair({ sft, aligned: join(root, "lora"), sftId: "org/sft" });
    expect(v.verdict).not.toBe("refuse");
    expect(v.adapter).toMatchObject({ r: 4, loraAlpha: 8, modules: 4, scale: { min: 2, max: 2 }, baseModel: "org/sft" });
    expect(v.lineage.status).toBe("confirmed");
    expect(v.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(["adapter-lora", "adapter-fits-base", "adapter-base-confirmed"]));
    expect(v.tensors.length).toBe(4);
    // The generator sizes s·B·A at 2 % of θ0's RMS per element.
    for (const t of v.tensors) expect(t.relativeDistance).toBeGreaterThan(0.005), expect(t.relativeDistance).toBeLessThan(0.08);
  });

  it("takes θ0 from the adapter's base_model_name_or_path on the Hub when --sft is not given", async () => {
    const v = await checkPair({ aligned: "org/sft-lora", hub: { hubUrl: hub.url, token: TOKEN } });
    expect(v.sft).toMatchObject({ kind: "hub", id: "org/sft" });
    expect(v.aligned).toMatchObject({ kind: "hub", id: "org/sft-lora", shards: 1 });
    expect(v.verdict).not.toBe("refuse");
    expect(v.lineage.status).toBe("confirmed");
  });

  it("refuses DoRA from its config alone, before reading any tensor", async () => {
    const v = await checkPair({ sft, aligned: join(root, "dora") });
    expect(v.verdict).toBe("refuse");
    const r = v.reasons.find((x) => x.code === "adapter-unsupported")!;
    expect(r.message).toMatch(/use_dora is true: DoRA rescales every column/);
    expect(v.usage.aligned.headers.bytes + v.usage.aligned.samples.bytes).toBe(0);
    expect(v.tensors).toEqual([]);
  });

  it("refuses an untrained adapter (B = 0): there is no update to extrapolate", async () => {
    const v = await checkPair({ sft, aligned: join(root, "untrained") });
    expect(v.verdict).toBe("refuse");
    expect(v.reasons.find((x) => x.level === "refuse")?.code).toBe("weights-identical");
  });

  it("refuses an adapter made for another base, naming the mismatched modules", async () => {
    const v = await checkPair({ sft, aligned: join(root, "wrong"), sftId: "org/sft" });
    expect(v.verdict).toBe("refuse");
    const r = v.reasons.find((x) => x.code === "adapter-wrong-base")!;
    expect(r.message).toMatch(/θ0's weight is \[32, 32\] but lora_B·lora_A is \[48, 48\]/);
    expect(v.reasons.find((x) => x.code === "adapter-base-named-other")?.message).toMatch(/names org\/other as its base model, not org\/sft/);
  });
});
