import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moduleScale, openAdapterFrom, parseAdapterConfig } from "../../checkpoint/adapter.js";
import { localFolderAccess, openModelWeights } from "../../checkpoint/weights.js";
import { decodeFloats } from "../../safetensors/codec.js";
import type { FloatDtype } from "../../safetensors/dtype.js";
import { BF16, F32, roundToFormat } from "../../safetensors/exact-round.testutil.js";
import { writeTinyAdapter } from "../../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../../synthetic/tiny-model.js";
import { UserError } from "../../util/errors.js";
import { extrapolate } from "../extrapolate.js";

const root = await mkdtemp(join(tmpdir(), "expo-lora-"));
afterAll(() => rm(root, { recursive: true, force: true }));
const base = join(root, "base");
const baseBf16 = join(root, "base-bf16");
const other = join(root, "other");

beforeAll(async () => {
  await writeTinyModel({ dir: base, hiddenSize: 32, layers: 2, heads: 4, seed: 1 });
  await writeTinyModel({ dir: baseBf16, hiddenSize: 32, layers: 2, heads: 4, seed: 1, dtype: "BF16" });
  await writeTinyModel({ dir: other, hiddenSize: 48, layers: 2, heads: 4, seed: 9 });
});

async function tensors(dir: string, file: string): Promise<Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>> {
  const w = await openModelWeights(dir).catch(() => null);
  const out = new Map();
  if (w && file !== "adapter_model.safetensors") {
    for (const n of w.names()) out.set(n, { dtype: w.get(n).info.dtype, shape: w.get(n).info.shape, bytes: await w.readBytes(n) });
    await w.close();
    return out;
  }
  const a = await openAdapterFrom(localFolderAccess(dir));
  for (const n of a.weights.names()) out.set(n, { dtype: a.weights.get(n).info.dtype, shape: a.weights.get(n).info.shape, bytes: await a.weights.readBytes(n) });
  await a.weights.close();
  return out;
}

const bitsOf = (bytes: Uint8Array, dtype: FloatDtype) => (dtype === "F32" ? [...new Uint32Array(bytes.slice().buffer)] : [...new Uint16Array(bytes.slice().buffer)]);

describe("reading PEFT adapters", () => {
  it("maps PEFT's keys to modules and computes s from r, lora_alpha, rsLoRA and the patterns", async () => {
    const dir = join(root, "patterns");
    await writeTinyAdapter({ base, dir, r: 4, loraAlpha: 8, useRslora: true, rankPattern: { "layers\\.1\\.self_attn\\.q_proj": 2 }, alphaPattern: { v_proj: 3 } });
    const a = await openAdapterFrom(localFolderAccess(dir));
    await a.weights.close();
    const q0 = a.modules.find((m) => m.module === "model.layers.0.self_attn.q_proj")!;
    const q1 = a.modules.find((m) => m.module === "model.layers.1.self_attn.q_proj")!;
    const v1 = a.modules.find((m) => m.module === "model.layers.1.self_attn.v_proj")!;
    expect(q0).toMatchObject({ a: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", b: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", baseTensor: "model.layers.0.self_attn.q_proj.weight", rank: 4, scale: 8 / 2 });
    expect(q1).toMatchObject({ rank: 2, alpha: 8, scale: 8 / Math.SQRT2 });
    expect(v1).toMatchObject({ rank: 4, alpha: 3, scale: 3 / 2 });
    expect(a.modules).toHaveLength(4);
    expect(moduleScale(a.config, "model.layers.0.mlp.up_proj")).toEqual({ rank: 4, alpha: 8, scale: 4 });
  });

  it("refuses DoRA, other PEFT types, trained biases and embedding LoRA with the reason", () => {
    const cfg = (extra: object) => JSON.stringify({ peft_type: "LORA", r: 4, lora_alpha: 8, ...extra });
    expect(() => parseAdapterConfig(cfg({ use_dora: true }), "x")).toThrow(/use_dora is true: DoRA rescales every column/);
    expect(() => parseAdapterConfig(cfg({ peft_type: "IA3" }), "x")).toThrow(/peft_type is "IA3"/);
    expect(() => parseAdapterConfig(cfg({ bias: "all" }), "x")).toThrow(/trained biases/);
    expect(() => parseAdapterConfig(cfg({ r: 0 }), "x")).toThrow(/"r" must be a positive integer/);
    expect(() => parseAdapterConfig(cfg({ init_lora_weights: "pissa_niter_4" }), "x")).toThrow(/init_lora_weights is "pissa_niter_4".*path_initial_model_for_weight_conversion/);
    expect(parseAdapterConfig(cfg({ init_lora_weights: true, use_dora: false, bias: "none", layer_replication: null, trainable_token_indices: null }), "x")).toMatchObject({ r: 4, loraAlpha: 8 });
    expect(() => parseAdapterConfig(cfg({ use_dora: true }), "x")).toThrow(UserError);
  });
});

describe("extrapolating a LoRA adapter", () => {
  it("writes the scaled adapter: lora_A/lora_B bit-identical, lora_alpha and alpha_pattern × (1 + α)", async () => {
    const dir = join(root, "plain");
    await writeTinyAdapter({ base, dir, r: 4, loraAlpha: 16, alphaPattern: { v_proj: 6 }, rankPattern: { "layers\\.0\\.self_attn\\.q_proj": 2 } });
    const out = join(root, "plain-x");
    const report = await extrapolate({ sft: base, aligned: dir, alpha: 0.5, out });
    expect(report.adapter).toMatchObject({ output: "adapter", factor: 1.5, modules: 4, loraAlpha: { theta1: 16, output: 24 } });
    const config = JSON.parse(await readFile(join(out, "adapter_config.json"), "utf8"));
    const original = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    expect(config).toEqual({ ...original, lora_alpha: 24, alpha_pattern: { v_proj: 9 } });
    const before = await tensors(dir, "adapter_model.safetensors");
    const after = await tensors(out, "adapter_model.safetensors");
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [n, t] of before) expect(Buffer.compare(Buffer.from(after.get(n)!.bytes), Buffer.from(t.bytes)), n).toBe(0);
    expect((await readdir(out)).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors", "expo_provenance.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
  });

  it("--merge writes θ0 + (1 + α)·s·B·A value for value (float64, rounded once), rsLoRA and patterns included", async () => {
    const dir = join(root, "rs");
    await writeTinyAdapter({ base: baseBf16, dir, r: 4, loraAlpha: 8, useRslora: true, dtype: "BF16", targetModules: ["q_proj", "v_proj", "down_proj"], rankPattern: { down_proj: 2 }, alphaPattern: { "layers\\.1\\.self_attn\\.v_proj": 5 } });
    const out = join(root, "rs-merged");
    const alpha = 0.7;
    const report = await extrapolate({ sft: baseBf16, aligned: dir, alpha, out, merge: true, chunkElements: 100 });
    expect(report.adapter?.output).toBe("merged");
    const t0 = await tensors(baseBf16, "model");
    const t2 = await tensors(out, "model");
    expect([...t2.keys()].sort()).toEqual([...t0.keys()].sort());
    const ad = await tensors(dir, "adapter_model.safetensors");
    const cfg = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    let checked = 0;
    for (const [name, t] of t0) {
      const module = name.replace(/\.weight$/, "");
      const A = ad.get(`base_model.model.${module}.lora_A.weight`);
      const out2 = t2.get(name)!;
      expect(out2.dtype).toBe("BF16");
      if (!A) {
        expect(Buffer.compare(Buffer.from(out2.bytes), Buffer.from(t.bytes)), name).toBe(0);
        continue;
      }
      const B = ad.get(`base_model.model.${module}.lora_B.weight`)!;
      const a = decodeFloats("BF16", A.bytes), b = decodeFloats("BF16", B.bytes), w = decodeFloats("BF16", t.bytes);
      const rank = A.shape[0], inF = A.shape[1], outF = B.shape[0];
      const r = /down_proj/.test(module) ? 2 : 4;
      const loraAlpha = module === "model.layers.1.self_attn.v_proj" ? 5 : cfg.lora_alpha;
      expect(rank).toBe(r);
      const s = loraAlpha / Math.sqrt(r);
      const got = bitsOf(out2.bytes, "BF16");
      for (let i = 0; i < outF; i++) {
        for (let j = 0; j < inF; j++) {
          let d = 0;
          for (let k = 0; k < rank; k++) d += b[i * rank + k] * a[k * inF + j];
          const expected = roundToFormat(w[i * inF + j] + (1 + alpha) * s * d, BF16);
          if (got[i * inF + j] !== expected) throw new Error(`${name}[${i},${j}]: got ${got[i * inF + j]}, expected ${expected}`);
        }
      }
      checked++;
    }
    expect(checked).toBe(6);
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    expect(config.torch_dtype).toBe("bfloat16");
    expect(await stat(join(out, "adapter_config.json")).catch(() => null)).toBeNull();
  });

  it("extrapolates modules_to_save against θ0 as for full models, growing the vocabulary", async () => {
    const dir = join(root, "mts");
    await writeTinyAdapter({ base, dir, modulesToSave: ["lm_head"], extraVocabRows: 3 });
    const out = join(root, "mts-merged");
    const alpha = 0.3;
    const report = await extrapolate({ sft: base, aligned: dir, alpha, out, merge: true });
    expect(report.notes.join(" ")).toMatch(/3 more vocabulary rows/);
    const h0 = (await tensors(base, "model")).get("lm_head.weight")!;
    const h1 = (await tensors(dir, "adapter_model.safetensors")).get("base_model.model.lm_head.weight")!;
    const h2 = (await tensors(out, "model")).get("lm_head.weight")!;
    expect(h2.shape).toEqual(h1.shape);
    const v0 = decodeFloats("F32", h0.bytes), v1 = decodeFloats("F32", h1.bytes);
    const got = bitsOf(h2.bytes, "F32");
    for (let i = 0; i < v1.length; i++) {
      const expected = i < v0.length ? roundToFormat(v1[i] + alpha * (v1[i] - v0[i]), F32) >>> 0 : roundToFormat(v1[i], F32) >>> 0;
      expect(got[i]).toBe(expected);
    }
    expect(JSON.parse(await readFile(join(out, "config.json"), "utf8")).vocab_size).toBe(h1.shape[0]);
    // The scaled adapter keeps the full tensor under PEFT's key, extrapolated the same way.
    const scaled = join(root, "mts-x");
    await extrapolate({ sft: base, aligned: dir, alpha, out: scaled });
    const hs = (await tensors(scaled, "adapter_model.safetensors")).get("base_model.model.lm_head.weight")!;
    expect(Buffer.compare(Buffer.from(hs.bytes), Buffer.from(h2.bytes))).toBe(0);
  });

  it("--merge shards like a full model: the same tensors, split by --shard-size, with an index", async () => {
    const dir = join(root, "shard-src");
    await writeTinyAdapter({ base, dir });
    const one = join(root, "merged-one"), many = join(root, "merged-many");
    await extrapolate({ sft: base, aligned: dir, alpha: 0.4, out: one, merge: true });
    const report = await extrapolate({ sft: base, aligned: dir, alpha: 0.4, out: many, merge: true, shardSize: 20_000 });
    expect(report.files).toContain("model.safetensors.index.json");
    expect(report.files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    const a = await tensors(one, "model"), b = await tensors(many, "model");
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [n, t] of a) expect(Buffer.compare(Buffer.from(b.get(n)!.bytes), Buffer.from(t.bytes)), n).toBe(0);
  });

  it("refuses a DoRA adapter before any work, naming the reason, and writes nothing", async () => {
    const dir = join(root, "dora");
    await writeTinyAdapter({ base, dir, useDora: true });
    const out = join(root, "dora-x");
    await expect(extrapolate({ sft: base, aligned: dir, alpha: 0.5, out })).rejects.toThrow(/use_dora is true: DoRA/);
    expect(await stat(out).catch(() => null)).toBeNull();
    expect((await readdir(root)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("refuses an adapter made for another base, listing the mismatched modules", async () => {
    const dir = join(root, "wrong");
    await writeTinyAdapter({ base: other, dir, baseModelName: "someone/other-base" });
    const out = join(root, "wrong-x");
    const err = await extrapolate({ sft: base, aligned: dir, alpha: 0.5, out }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/does not fit θ0 \(was it made for another base model\?\)/);
    expect(err.message).toMatch(/"model.layers.0.self_attn.q_proj": θ0's weight is \[32, 32\] but lora_B·lora_A is \[48, 48\]/);
    expect(await stat(out).catch(() => null)).toBeNull();
  });

  it("--merge on a full model is a clear error", async () => {
    await expect(extrapolate({ sft: base, aligned: base, alpha: 0.5, out: join(root, "nope"), merge: true })).rejects.toThrow(/--merge: .* is not a LoRA adapter/);
  });
});
