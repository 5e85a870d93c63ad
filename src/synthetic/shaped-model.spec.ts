/**
 * The benchmark's real-shaped checkpoints, at a tiny size: loadable, θ1 = θ0 + a small Δ,
 * the engine's logits match the float64 reference, and the parameter count is the layout's.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../checkpoint/config.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { CausalLMEngine } from "../inference/engine.js";
import { referenceForward } from "../inference/reference.js";
import { relativeError, tokenSequence } from "../inference/test-support.js";
import { MODEL_SHAPES, shapeParameters, writeShapedPair, type ModelShape } from "./shaped-model.js";

const root = await mkdtemp(join(tmpdir(), "expo-shaped-"));
afterAll(() => rm(root, { recursive: true, force: true }));

describe("writeShapedPair", () => {
  it("knows the real sizes", () => {
    expect(Math.round(shapeParameters(MODEL_SHAPES["qwen2-0.5b"]) / 1e6)).toBe(494);
    expect(Math.round(shapeParameters(MODEL_SHAPES["qwen3-0.6b"]) / 1e6)).toBe(596);
    expect(Math.round(shapeParameters(MODEL_SHAPES["llama3.2-1b"]) / 1e6)).toBe(1236);
  });

  it.each(["qwen2", "qwen3", "llama"] as const)("%s: writes a sharded bf16 pair the engine and the reference agree on", async (architecture) => {
    const shape: ModelShape = { architecture, hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, vocab: 300, tie: true, ropeTheta: 1e6 };
    const theta0 = join(root, `${architecture}-0`);
    const theta1 = join(root, `${architecture}-1`);
    await writeShapedPair({ shape, theta0Dir: theta0, theta1Dir: theta1, std: 0.15, relativeDelta: 0.1 });
    const w0 = await openModelWeights(theta0);
    const w1 = await openModelWeights(theta1);
    try {
      expect(w1.files).toHaveLength(2);
      expect(w1.parameterCount()).toBe(shapeParameters(shape));
      const a = await w0.readFloat32("model.layers.1.mlp.up_proj.weight");
      const b = await w1.readFloat32("model.layers.1.mlp.up_proj.weight");
      const delta = relativeError(b, a);
      expect(delta).toBeGreaterThan(0.01);
      expect(delta).toBeLessThan(0.3);
      const ids = tokenSequence(7, 300);
      const engine = await CausalLMEngine.load(theta1, { threads: 1 });
      try {
        const ref = await referenceForward(await readModelConfig(theta1), w1, [ids]);
        expect(relativeError((await engine.logits(ids)).values, ref.perToken[0].flatMap((r) => Array.from(r)))).toBeLessThan(1e-4);
      } finally {
        await engine.close();
      }
    } finally {
      await w0.close();
      await w1.close();
    }
  });
});
