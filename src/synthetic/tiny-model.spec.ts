import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Tokenizer } from "@huggingface/tokenizers";
import { openModelWeights } from "../checkpoint/weights.js";
import { readModelConfig } from "../checkpoint/config.js";
import { deriveTinyModel, writeTinyModel } from "./tiny-model.js";

const root = await mkdtemp(join(tmpdir(), "expo-tiny-"));
afterAll(() => rm(root, { recursive: true, force: true }));

describe("tiny synthetic models", () => {
  it("writes a sharded Qwen2 folder whose weights reopen with the declared shapes", async () => {
    const m = await writeTinyModel({ dir: join(root, "qwen"), architecture: "qwen2", shards: 3, kvHeads: 2, dtype: "BF16" });
    const weights = await openModelWeights(m.dir);
    try {
      expect(weights.files.length).toBe(3);
      expect(weights.get("model.layers.0.self_attn.k_proj.weight").info.shape).toEqual([32, 64]);
      expect(weights.has("model.layers.1.self_attn.q_proj.bias")).toBe(true);
      expect(weights.get("model.embed_tokens.weight").info.dtype).toBe("BF16");
    } finally {
      await weights.close();
    }
    const config = await readModelConfig(m.dir);
    expect(config.architectures).toEqual(["Qwen2ForCausalLM"]);
    expect(config._synthetic).toBe(true);
  });

  it("derives θ1 = θ0 + a small Δ and keeps the tokenizer loadable, with appended tokens", async () => {
    const t0 = await writeTinyModel({ dir: join(root, "t0"), seed: 3 });
    const t1 = await deriveTinyModel({ from: t0.dir, dir: join(root, "t1"), relativeDelta: 0.01, extraTokens: ["<tool>"], card: { base_model: "org/t0", tags: ["expo"] } });
    const [w0, w1] = await Promise.all([openModelWeights(t0.dir), openModelWeights(t1.dir)]);
    try {
      const a = await w0.readFloat32("model.layers.0.mlp.up_proj.weight");
      const b = await w1.readFloat32("model.layers.0.mlp.up_proj.weight");
      let num = 0, den = 0;
      for (let i = 0; i < a.length; i++) { num += (b[i] - a[i]) ** 2; den += a[i] ** 2; }
      expect(Math.sqrt(num / den)).toBeGreaterThan(0.005);
      expect(Math.sqrt(num / den)).toBeLessThan(0.02);
      expect(w1.get("model.embed_tokens.weight").info.shape[0]).toBe(w0.get("model.embed_tokens.weight").info.shape[0] + 1);
    } finally {
      await Promise.all([w0.close(), w1.close()]);
    }
    const tok = new Tokenizer(JSON.parse(await readFile(join(t1.dir, "tokenizer.json"), "utf8")), JSON.parse(await readFile(join(t1.dir, "tokenizer_config.json"), "utf8")));
    const ids = tok.encode("the cat is here").ids;
    expect(tok.decode(ids)).toBe("the cat is here");
    expect(await readFile(join(t1.dir, "README.md"), "utf8")).toContain("base_model: org/t0");
  });
});
