/**
 * The embedded generator's in-place α: θ0 and θ1 loaded once for the whole search, every α
 * served by switching the weights, with the same answers as generating from each α's
 * extrapolated folder.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extrapolate } from "../expo/index.js";
import { writeTinyAdapter } from "../synthetic/tiny-adapter.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { EmbeddedGenerator } from "./embedded.js";
import { FolderMaterializer, InPlaceMaterializer } from "./materialize.js";
import { PAPER_SAMPLING } from "./types.js";

const root = await mkdtemp(join(tmpdir(), "expo-embedded-"));
let sft = "";
let dpo = "";
let lora = "";
beforeAll(async () => {
  sft = (await writeTinyModel({ dir: join(root, "sft"), architecture: "qwen2", hiddenSize: 32, heads: 4, kvHeads: 2, seed: 1 })).dir;
  dpo = (await deriveTinyModel({ dir: join(root, "dpo"), from: sft, relativeDelta: 0.3, seed: 2 })).dir;
  lora = (await writeTinyAdapter({ base: sft, dir: join(root, "lora"), targetModules: ["q_proj", "v_proj", "up_proj"], modulesToSave: ["lm_head"], relativeUpdate: 0.3, seed: 4 })).dir;
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("EmbeddedGenerator with a θ0/θ1 pair", () => {
  it("loads once for every α and answers as the extrapolated folders do", async () => {
    const prompts = ["the cat sat", "write a poem", "hello there"];
    const sampling = { ...PAPER_SAMPLING, maxTokens: 8 };
    const alphas = [0.5, 2, -0.5, 0, 0.5];
    const inPlace = new EmbeddedGenerator({ pair: { sft, aligned: dpo }, threads: 1 });
    const none = new InPlaceMaterializer(dpo);
    const perFolder = new EmbeddedGenerator({ threads: 1 });
    const folders = new FolderMaterializer({ sft, aligned: dpo, workDir: join(root, "models"), extrapolate: (o) => extrapolate(o) });
    try {
      for (const alpha of alphas) {
        const a = await inPlace.generate({ alpha, dir: (await none.materialize(alpha)).dir }, prompts, sampling);
        const b = await perFolder.generate({ alpha, dir: (await folders.materialize(alpha)).dir }, prompts, sampling);
        expect(a, `α = ${alpha}`).toEqual(b);
      }
      expect(inPlace.loads).toBe(1);
      expect(inPlace.switches).toBe(alphas.length); // the first α (0.5) is a switch from θ1 too
      expect(none.writes).toBe(0);
      expect(perFolder.loads).toBe(alphas.length); // a new session for every α visited
    } finally {
      await inPlace.close();
      await perFolder.close();
    }
  });
});

describe("EmbeddedGenerator with a LoRA adapter θ1", () => {
  it("loads θ0 and the adapter once for every α and answers as the merged folders do", async () => {
    const prompts = ["the cat sat", "write a poem", "hello there"];
    const sampling = { ...PAPER_SAMPLING, maxTokens: 8 };
    const alphas = [0.5, 2, -0.5, 0, 0.5];
    const inPlace = new EmbeddedGenerator({ pair: { sft, aligned: lora }, threads: 1 });
    const none = new InPlaceMaterializer(lora);
    const perFolder = new EmbeddedGenerator({ threads: 1 });
    // θ0 is float32 here, so the merged folders are float32 too: the same weights bit for bit.
    const folders = new FolderMaterializer({ sft, aligned: lora, adapter: "merge", workDir: join(root, "lora-models"), extrapolate: (o) => extrapolate(o) });
    try {
      const answers = new Set<string>();
      for (const alpha of alphas) {
        const a = await inPlace.generate({ alpha, dir: (await none.materialize(alpha)).dir }, prompts, sampling);
        const b = await perFolder.generate({ alpha, dir: (await folders.materialize(alpha)).dir }, prompts, sampling);
        expect(a, `α = ${alpha}`).toEqual(b);
        answers.add(JSON.stringify(a));
      }
      expect(answers.size).toBeGreaterThan(1); // α really changes the model served
      expect(inPlace.loads).toBe(1);
      expect(inPlace.switches).toBe(alphas.length);
      expect(none.writes).toBe(0);
      expect(folders.writes).toBe(4); // what the in-place path saves: a merged folder per distinct α
      expect(perFolder.loads).toBe(alphas.length);
    } finally {
      await inPlace.close();
      await perFolder.close();
    }
  });
});
