/**
 * α in place: one engine loaded from θ1 with `extrapolateFrom: θ0` serves θ1 + α(θ1 − θ0) for
 * any α by rewriting its float32 weights (no new session), and gives the logits of the
 * extrapolated-folder path — exactly against a float32 folder, within bf16 rounding against a
 * folder in θ1's dtype — also when θ1 grew the vocabulary.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { extrapolate } from "../expo/extrapolate.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { UserError } from "../util/errors.js";
import { CausalLMEngine } from "./engine.js";
import { loadCausalLM } from "./index.js";
import { referenceForward } from "./reference.js";
import { relativeError, tokenSequence } from "./test-support.js";

const root = await mkdtemp(join(tmpdir(), "expo-alpha-"));
const theta0 = join(root, "theta0");
const theta1 = join(root, "theta1");
let engine: CausalLMEngine;
const ids = tokenSequence(9, 250);

beforeAll(async () => {
  await writeTinyModel({ dir: theta0, architecture: "qwen3", hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 16, dtype: "BF16", initStd: 0.15, seed: 3 });
  // A large Δ, so that different α give clearly different logits; θ1 appends two tokens.
  await deriveTinyModel({ from: theta0, dir: theta1, dtype: "BF16", relativeDelta: 0.3, extraTokens: ["<think>", "</think>"], seed: 4 });
  engine = await CausalLMEngine.load(theta1, { threads: 1, extrapolateFrom: theta0, alpha: 0.5 });
});
afterAll(async () => {
  await engine?.close();
  await rm(root, { recursive: true, force: true });
});

async function folderLogits(alpha: number, dtype?: string): Promise<Float32Array> {
  const out = join(root, `alpha-${alpha}-${dtype ?? "same"}`);
  await extrapolate({ sft: theta0, aligned: theta1, alpha, out, overwrite: true, ...(dtype ? { dtype } : {}) });
  const folder = await CausalLMEngine.load(out, { threads: 1 });
  try {
    return (await folder.logits(ids)).values;
  } finally {
    await folder.close();
  }
}

describe("α in place", () => {
  it("gives the extrapolated float32 folder's logits for every α, switching back and forth in one session", async () => {
    const session = engine.runner.session;
    for (const alpha of [0.5, 2, 0, 0.5]) {
      await engine.setAlpha(alpha);
      expect(engine.alpha).toBe(alpha);
      const inPlace = (await engine.logits(ids)).values;
      // Same float32 weights bit for bit (both round θ1 + α(θ1 − θ0) once from double), same graph.
      expect(relativeError(inPlace, await folderLogits(alpha, "f32"))).toBeLessThan(1e-6);
    }
    expect(engine.runner.session).toBe(session);
  });

  it("α changes the output, and matches the float64 reference of the float32 folder", async () => {
    await engine.setAlpha(2);
    const two = (await engine.logits(ids)).values;
    await engine.setAlpha(0);
    const zero = (await engine.logits(ids)).values;
    expect(relativeError(two, zero)).toBeGreaterThan(1e-2);
    const out = join(root, "alpha-2-f32");
    const weights = await openModelWeights(out);
    const ref = await referenceForward(await readModelConfig(out), weights, [ids]).finally(() => weights.close());
    expect(relativeError(two, ref.perToken[0].flatMap((r) => Array.from(r)))).toBeLessThan(1e-4);
  });

  it("differs from a bf16 folder only by the folder's bf16 rounding of the weights", async () => {
    await engine.setAlpha(1.5);
    const inPlace = (await engine.logits(ids)).values;
    const bf16 = await folderLogits(1.5);
    const err = relativeError(inPlace, bf16);
    expect(err).toBeLessThan(3e-2);
    expect(err).toBeGreaterThan(0); // the folder path really is rounded
  });

  it("at α = 0 is θ1 loaded on its own", async () => {
    await engine.setAlpha(0);
    const plain = await CausalLMEngine.load(theta1, { threads: 1 });
    try {
      expect(relativeError((await engine.logits(ids)).values, (await plain.logits(ids)).values)).toBe(0);
      await expect(plain.setAlpha(1)).rejects.toThrow(/extrapolateFrom/);
    } finally {
      await plain.close();
    }
  });

  it("through the worker: setAlpha reports the switch, and a repeated α is free", async () => {
    const lm = await loadCausalLM(theta1, { threads: 1, extrapolateFrom: theta0 });
    try {
      const first = await lm.generate(["the cat"], { maxNewTokens: 6, greedy: true, ignoreEos: true });
      const sw = await lm.setAlpha(3);
      expect(sw?.alpha).toBe(3);
      expect(sw!.ms).toBeGreaterThanOrEqual(0);
      expect(await lm.setAlpha(3)).toBeNull();
      await lm.setAlpha(0);
      const again = await lm.generate(["the cat"], { maxNewTokens: 6, greedy: true, ignoreEos: true });
      expect(again[0].tokenIds).toEqual(first[0].tokenIds);
    } finally {
      await lm.close();
    }
  });

  it("refuses a θ0 of another geometry, naming the field", async () => {
    const other = join(root, "other");
    await writeTinyModel({ dir: other, architecture: "qwen3", hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 16, layers: 3 });
    const err = await CausalLMEngine.load(theta1, { extrapolateFrom: other }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err.message)).toMatch(/num_hidden_layers/);
  });

  it("refuses a θ0 whose tensor shapes do not pair with θ1's", async () => {
    const other = join(root, "other-inter");
    await writeTinyModel({ dir: other, architecture: "qwen3", hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 16, intermediateSize: 48 });
    // Same config fields checked above except intermediate_size: make config agree, shapes not.
    const configPath = join(other, "config.json");
    const config = JSON.parse(await readFile(configPath, "utf8"));
    await writeFile(configPath, JSON.stringify({ ...config, intermediate_size: 64 }));
    const err = await CausalLMEngine.load(theta1, { extrapolateFrom: other }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err.message)).toMatch(/mlp\.gate_proj\.weight.*shape/);
  });
});
