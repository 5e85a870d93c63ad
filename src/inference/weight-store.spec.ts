/**
 * WeightStore.load with helper threads fills the same float32 weights, bit for bit, as one
 * thread does (plain and α pair; bf16, f16 and f32; θ1 with a grown vocabulary), and a helper
 * that cannot read its file fails the load with the file named.
 */
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openModelWeights, type ModelWeights } from "../checkpoint/weights.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import type { WeightSlot } from "./graph.js";
import { WeightStore, type AlphaPair } from "./weight-store.js";

const root = await mkdtemp(join(tmpdir(), "expo-weight-store-"));
afterAll(() => rm(root, { recursive: true, force: true }));

const slotsOf = (w: ModelWeights): WeightSlot[] => w.names().map((name) => ({ input: name, tensor: name, dims: w.get(name).info.shape }));

async function pair(dtype: "BF16" | "F16" | "F32", seed: number): Promise<{ theta0: string; theta1: string }> {
  const theta0 = join(root, `${dtype}-0`);
  const theta1 = join(root, `${dtype}-1`);
  await writeTinyModel({ dir: theta0, architecture: "llama", hiddenSize: 32, heads: 4, kvHeads: 2, dtype, seed });
  await deriveTinyModel({ from: theta0, dir: theta1, dtype, relativeDelta: 0.3, extraTokens: ["<a>", "<b>"], seed: seed + 1 });
  return { theta0, theta1 };
}

function expectSameArrays(a: WeightStore, b: WeightStore): void {
  expect([...a.arrays.keys()]).toEqual([...b.arrays.keys()]);
  for (const [input, x] of a.arrays) {
    const y = b.arrays.get(input)!;
    expect(y.length, input).toBe(x.length);
    // Bit for bit: compare the raw words (NaN-safe, −0 kept apart from 0).
    expect(Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)), input).toBe(0);
  }
}

describe("WeightStore.load on helper threads", () => {
  for (const dtype of ["BF16", "F16", "F32"] as const) {
    it(`fills ${dtype} weights as one thread does, alone and as θ1 + α(θ1 − θ0)`, async () => {
      const dirs = await pair(dtype, dtype.length * 7);
      const theta1 = await openModelWeights(dirs.theta1);
      const theta0 = await openModelWeights(dirs.theta0);
      try {
        const slots = slotsOf(theta1);
        for (const p of [undefined, { theta0, alpha: 1.5 } satisfies AlphaPair]) {
          const one = await WeightStore.load(slots, theta1, p, { helpers: 0 });
          const three = await WeightStore.load(slots, theta1, p, { helpers: 2, parallelMinBytes: 0 });
          expectSameArrays(one, three);
          expect(three.bytes).toBe(one.bytes);
          // The store stays switchable in place after a parallel load.
          if (p) {
            await three.fill(theta1, { theta0, alpha: 0.25 });
            await one.fill(theta1, { theta0, alpha: 0.25 });
            expectSameArrays(one, three);
          }
        }
      } finally {
        await theta1.close();
        await theta0.close();
      }
    });
  }

  it("fails the load with the file named when a helper cannot read it", async () => {
    const dirs = await pair("BF16", 40);
    const theta1 = await openModelWeights(dirs.theta1);
    try {
      const slots = slotsOf(theta1);
      // The helpers open files by path: move the weights away after the header was read.
      const file = join(dirs.theta1, "model.safetensors");
      await rename(file, `${file}.moved`);
      await expect(WeightStore.load(slots, theta1, undefined, { helpers: 2, parallelMinBytes: 0 })).rejects.toThrow(/model\.safetensors/);
      await rename(`${file}.moved`, file);
    } finally {
      await theta1.close();
    }
  });
});
