/**
 * α in place for a LoRA θ1: one engine loaded from the adapter folder with `extrapolateFrom: θ0`
 * reads θ0 once and serves θ0 + (1 + α)·s·B·A for any α by rewriting only the adapted (and
 * `modules_to_save`) weights — the logits of `extrapolate --merge --dtype f32`'s folder, in one
 * session, with rsLoRA, rank/alpha patterns and an embedding the adapter grew.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { extrapolate } from "../expo/extrapolate.js";
import { writeTinyAdapter } from "../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../synthetic/tiny-model.js";
import { UserError } from "../util/errors.js";
import { CausalLMEngine } from "./engine.js";
import { loadCausalLM } from "./index.js";
import { relativeError, tokenSequence } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-lora-alpha-"));
const theta0 = join(root, "theta0");
const adapter = join(root, "adapter");
let engine: CausalLMEngine;
const ids = tokenSequence(9, 250);

beforeAll(async () => {
  await writeTinyModel({ dir: theta0, architecture: "qwen2", hiddenSize: 32, heads: 4, kvHeads: 2, dtype: "BF16", initStd: 0.15, seed: 3 });
  // A large update, so that different α give clearly different logits; two vocabulary rows added.
  await writeTinyAdapter({
    base: theta0,
    dir: adapter,
    dtype: "BF16",
    r: 4,
    loraAlpha: 8,
    useRslora: true,
    targetModules: ["q_proj", "v_proj", "down_proj"],
    rankPattern: { down_proj: 2 },
    alphaPattern: { "layers\\.1\\.self_attn\\.v_proj": 5 },
    modulesToSave: ["embed_tokens", "lm_head"],
    extraVocabRows: 2,
    relativeUpdate: 0.3,
  });
  engine = await CausalLMEngine.load(adapter, { threads: 1, extrapolateFrom: theta0, alpha: 0.5 });
});
afterAll(async () => {
  await engine?.close();
  await rm(root, { recursive: true, force: true });
});

/** Logits of the merged float32 folder `extrapolate --merge --dtype f32` writes for α. */
async function mergedLogits(alpha: number): Promise<Float32Array> {
  const out = join(root, `merged-${alpha}`);
  await extrapolate({ sft: theta0, aligned: adapter, alpha, out, overwrite: true, merge: true, dtype: "f32" });
  const folder = await CausalLMEngine.load(out, { threads: 1 });
  try {
    expect(folder.spec.vocab).toBe(engine.spec.vocab);
    return (await folder.logits(ids)).values;
  } finally {
    await folder.close();
  }
}

describe("α in place for a LoRA adapter θ1", () => {
  it("gives the merged float32 folder's logits for every α, switching back and forth in one session", async () => {
    const session = engine.runner.session;
    expect(engine.spec.vocab).toBe((await readModelConfig(theta0)).vocab_size + 2); // the adapter's grown embedding and head
    for (const alpha of [0.5, 2, 0, -0.5, 0.5]) {
      await engine.setAlpha(alpha);
      expect(engine.alpha).toBe(alpha);
      const inPlace = (await engine.logits(ids)).values;
      // The same float32 weights bit for bit (θ0 + (1 + α)·s·B·A in double, rounded once), the same graph.
      expect(relativeError(inPlace, await mergedLogits(alpha)), `α = ${alpha}`).toBeLessThan(1e-6);
    }
    expect(engine.runner.session).toBe(session);
  });

  it("α changes the output", async () => {
    await engine.setAlpha(2);
    const two = (await engine.logits(ids)).values;
    await engine.setAlpha(0);
    const zero = (await engine.logits(ids)).values;
    expect(relativeError(two, zero)).toBeGreaterThan(1e-2);
  });

  it("through the worker: the same answers as the merged folder, and a repeated α is free", async () => {
    const lm = await loadCausalLM(adapter, { threads: 1, extrapolateFrom: theta0 });
    const merged = join(root, "merged-worker");
    await extrapolate({ sft: theta0, aligned: adapter, alpha: 1, out: merged, overwrite: true, merge: true, dtype: "f32" });
    const folder = await loadCausalLM(merged, { threads: 1 });
    try {
      expect(await lm.setAlpha(1)).toMatchObject({ alpha: 1 });
      expect(await lm.setAlpha(1)).toBeNull();
      const sampling = { maxNewTokens: 6, greedy: true, ignoreEos: true };
      expect((await lm.generate(["the cat"], sampling))[0].tokenIds).toEqual((await folder.generate(["the cat"], sampling))[0].tokenIds);
    } finally {
      await lm.close();
      await folder.close();
    }
  });

  it("refuses an adapter without θ0, and one made for another base, naming the module", async () => {
    await expect(CausalLMEngine.load(adapter, { threads: 1 })).rejects.toThrow(/LoRA adapter: load it with extrapolateFrom/);
    const other = join(root, "other");
    await writeTinyModel({ dir: other, architecture: "qwen2", hiddenSize: 48, heads: 4, kvHeads: 2, seed: 9 });
    const err = await CausalLMEngine.load(adapter, { threads: 1, extrapolateFrom: other }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/"model.layers.0.self_attn.q_proj": θ0's weight is \[48, 48\] but lora_B·lora_A is \[32, 32\]/);
  });
});
