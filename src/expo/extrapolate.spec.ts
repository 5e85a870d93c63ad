import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openModelWeights } from "../checkpoint/weights.js";
import { decodeFloats, encodeFloats } from "../safetensors/codec.js";
import type { Dtype, FloatDtype } from "../safetensors/dtype.js";
import { BF16, F16, F32, roundToFormat } from "../safetensors/exact-round.testutil.js";
import { malformedCorpus } from "../safetensors/malformed.testutil.js";
import { serializeSafetensors } from "../safetensors/writer.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { mulberry32 } from "../util/random.js";
import { UserError } from "../util/errors.js";
import { extrapolate } from "./extrapolate.js";

const root = await mkdtemp(join(tmpdir(), "expo-x-"));
afterAll(() => rm(root, { recursive: true, force: true }));

/** Bits of the expected output value: the double θ1 + α(θ1 − θ0), rounded exactly (BigInt) once. */
function expectedBits(a: number, b: number, alpha: number, dtype: FloatDtype): number | bigint {
  const r = a + alpha * (a - b);
  if (dtype === "F64") return new BigUint64Array(new Float64Array([r]).buffer)[0];
  return roundToFormat(r, dtype === "BF16" ? BF16 : dtype === "F16" ? F16 : F32) >>> 0;
}

function bitsOf(bytes: Uint8Array, dtype: FloatDtype): Array<number | bigint> {
  const b = bytes.slice();
  if (dtype === "F64") return [...new BigUint64Array(b.buffer)];
  if (dtype === "F32") return [...new Uint32Array(b.buffer)];
  return [...new Uint16Array(b.buffer)];
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes(".tmp-"));
}

interface T {
  name: string;
  dtype: Dtype;
  shape: number[];
  values?: number[];
  data?: Uint8Array;
}
async function writeModel(dir: string, tensors: T[], config: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const enc = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data ?? encodeFloats(t.dtype as FloatDtype, t.values!) }));
  await writeFile(join(dir, "model.safetensors"), serializeSafetensors(enc, { format: "pt" }));
  await writeFile(join(dir, "config.json"), JSON.stringify({ model_type: "llama", torch_dtype: "float32", ...config }));
}

async function expectExtrapolated(out: string, sft: string, aligned: string, alpha: number | ((name: string) => number), outDtype?: FloatDtype) {
  const [w0, w1, w2] = await Promise.all([openModelWeights(sft), openModelWeights(aligned), openModelWeights(out)]);
  try {
    expect(w2.names().sort()).toEqual(w1.names().sort());
    for (const name of w1.names()) {
      const i1 = w1.get(name).info, i2 = w2.get(name).info;
      const d2 = (outDtype ?? i1.dtype) as FloatDtype;
      expect(i2.shape).toEqual(i1.shape);
      expect(i2.dtype).toBe(d2);
      const a = decodeFloats(i1.dtype as FloatDtype, await w1.readBytes(name));
      const name0 = w0.has(name) ? name : "model.embed_tokens.weight";
      const b = decodeFloats(w0.get(name0).info.dtype as FloatDtype, await w0.readBytes(name0));
      const got = bitsOf(await w2.readBytes(name), d2);
      const al = typeof alpha === "function" ? alpha(name) : alpha;
      for (let i = 0; i < a.length; i++) {
        // rows beyond θ0's vocabulary: θ1's value (Δ = 0)
        const want = i < b.length && al !== 0 ? expectedBits(a[i], b[i], al, d2) : expectedBits(a[i], a[i], 0, d2);
        if (got[i] !== want) expect({ name, i, got: got[i] }).toEqual({ name, i, got: want });
      }
    }
  } finally {
    await Promise.all([w0.close(), w1.close(), w2.close()]);
  }
}

describe("extrapolate", () => {
  it("sharded bf16 pair with appended tokens: values bit for bit, folder complete and from θ1", async () => {
    const sft = join(root, "a-sft"), aligned = join(root, "a-aligned"), out = join(root, "a-out");
    await writeTinyModel({ dir: sft, dtype: "BF16", shards: 3, seed: 1 });
    await deriveTinyModel({ from: sft, dir: aligned, dtype: "BF16", shards: 2, extraTokens: ["<tool>", "</tool>"], relativeDelta: 0.02 });
    await writeFile(join(aligned, "LICENSE"), "aligned licence\n");
    await writeFile(join(sft, "LICENSE"), "sft licence\n");
    const report = await extrapolate({ sft, aligned, alpha: 0.3, out, shardSize: "60kB" });
    await expectExtrapolated(out, sft, aligned, 0.3);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "LICENSE", "expo_provenance.json", "model.safetensors.index.json"]));
    expect(files).not.toContain("README.md");
    expect(await readFile(join(out, "LICENSE"), "utf8")).toBe("aligned licence\n");
    expect(await readFile(join(out, "tokenizer.json"), "utf8")).toBe(await readFile(join(aligned, "tokenizer.json"), "utf8"));
    expect(JSON.parse(await readFile(join(out, "config.json"), "utf8")).torch_dtype).toBe("bfloat16");
    const prov = JSON.parse(await readFile(join(out, "expo_provenance.json"), "utf8"));
    expect(prov.alpha).toBe(0.3);
    expect(prov.sources.aligned.path).toBe(aligned);
    expect(prov.tool.name).toBe("expo-bot");
    expect(report.notes.join("\n")).toMatch(/"model.embed_tokens.weight": θ1 has 2 more vocabulary rows/);
    expect(report.perTensor.find((t) => t.name === "lm_head.weight")?.vocab).toEqual({ theta0Rows: 279, theta1Rows: 281 });
    expect(report.relativeDelta!.median).toBeGreaterThan(0.015);
    expect(report.relativeDelta!.median).toBeLessThan(0.025);
    expect(report.nonFiniteInputs + report.overflows).toBe(0);
    expect(await leftovers(root)).toEqual([]);
  });

  it("worker threads write the same bytes as this thread, in small chunks", async () => {
    const sft = join(root, "a-sft"), aligned = join(root, "a-aligned");
    const o0 = join(root, "t-out0"), o2 = join(root, "t-out2");
    await extrapolate({ sft, aligned, alpha: 0.7, out: o0, threads: 0, chunkElements: 1000 });
    const r = await extrapolate({ sft, aligned, alpha: 0.7, out: o2, threads: 2, chunkElements: 777 });
    expect(r.threads).toBe(2);
    expect(await readFile(join(o2, "model.safetensors"))).toEqual(await readFile(join(o0, "model.safetensors")));
    await expectExtrapolated(o2, sft, aligned, 0.7);
  });

  it("α rules: first match wins; α = 0 tensors are θ1's", async () => {
    const sft = join(root, "a-sft"), aligned = join(root, "a-aligned"), out = join(root, "r-out");
    const rules = ["lm_head|embed_tokens=0", "layers\\.1\\.=2.5", "layers=0.1"];
    const report = await extrapolate({ sft, aligned, alpha: 0.3, rules, out });
    const alphaOf = (n: string) => (/lm_head|embed_tokens/.test(n) ? 0 : /layers\.1\./.test(n) ? 2.5 : /layers/.test(n) ? 0.1 : 0.3);
    await expectExtrapolated(out, sft, aligned, alphaOf);
    expect(report.rules).toEqual([
      { rule: "lm_head|embed_tokens=0", alpha: 0, tensors: 2 },
      { rule: "layers\\.1\\.=2.5", alpha: 2.5, tensors: 9 },
      { rule: "layers=0.1", alpha: 0.1, tensors: 9 },
    ]);
    expect(report.perTensor.find((t) => t.name === "model.norm.weight")!.alpha).toBe(0.3);
  });

  it("mixed dtypes: θ0 f32, θ1 bf16, written as f16 with --dtype; int tensors copied", async () => {
    const rand = mulberry32(3);
    const vals = (n: number) => Array.from({ length: n }, () => (rand() - 0.5) * 4);
    const a0 = vals(64), a1 = a0.map((v) => v + (rand() - 0.5) * 0.01);
    const ids = new Uint8Array(new BigInt64Array([1n, 2n, 3n]).buffer);
    const sft = join(root, "m-sft"), aligned = join(root, "m-aligned"), out = join(root, "m-out");
    await writeModel(sft, [{ name: "w", dtype: "F32", shape: [8, 8], values: a0 }, { name: "pos", dtype: "I64", shape: [3], data: new Uint8Array(24) }]);
    await writeModel(aligned, [{ name: "w", dtype: "BF16", shape: [8, 8], values: a1 }, { name: "pos", dtype: "I64", shape: [3], data: ids }], { dtype: "bfloat16" });
    const report = await extrapolate({ sft, aligned, alpha: 0.5, out, dtype: "f16" });
    const w = await openModelWeights(out);
    const got = bitsOf(await w.readBytes("w"), "F16");
    const a = decodeFloats("BF16", encodeFloats("BF16", a1)), b = decodeFloats("F32", encodeFloats("F32", a0));
    for (let i = 0; i < 64; i++) expect(got[i]).toBe(expectedBits(a[i], b[i], 0.5, "F16"));
    expect(await w.readBytes("pos")).toEqual(ids);
    expect(w.get("pos").info.dtype).toBe("I64");
    await w.close();
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    expect(config.dtype).toBe("float16");
    expect(config.torch_dtype).toBe("float16");
    expect(report.perTensor.find((t) => t.name === "pos")!.action).toBe("copy");
  });

  it("tied embeddings: θ0 without lm_head uses its embeddings; θ1 tied ignores θ0's lm_head", async () => {
    const rand = mulberry32(9);
    const v = (n: number) => Array.from({ length: n }, () => rand() - 0.5);
    const e0 = v(32), e1 = e0.map((x) => x + 0.01), h1 = e0.map((x) => x - 0.02);
    const sft = join(root, "tie-sft"), aligned = join(root, "tie-aligned"), out = join(root, "tie-out");
    await writeModel(sft, [{ name: "model.embed_tokens.weight", dtype: "F32", shape: [8, 4], values: e0 }], { tie_word_embeddings: true });
    await writeModel(aligned, [{ name: "model.embed_tokens.weight", dtype: "F32", shape: [8, 4], values: e1 }, { name: "lm_head.weight", dtype: "F32", shape: [8, 4], values: h1 }], { tie_word_embeddings: false });
    const report = await extrapolate({ sft, aligned, alpha: 1, out });
    await expectExtrapolated(out, sft, aligned, 1);
    expect(report.perTensor.find((t) => t.name === "lm_head.weight")!.tiedFrom).toBe("model.embed_tokens.weight");
    // the other way round
    const out2 = join(root, "tie-out2");
    const r2 = await extrapolate({ sft: aligned, aligned: sft, alpha: 1, out: out2 });
    expect(r2.tensors.total).toBe(1);
    expect(r2.notes.join()).toMatch(/θ1 ties its embeddings: θ0's "lm_head.weight" is not used/);
  });

  it("tensors in one model only and shape mismatches: a clear error listing them, nothing written", async () => {
    const sft = join(root, "e-sft"), aligned = join(root, "e-aligned"), out = join(root, "e-out");
    await writeModel(sft, [{ name: "a", dtype: "F32", shape: [2], values: [1, 2] }, { name: "only0", dtype: "F32", shape: [1], values: [1] }, { name: "s", dtype: "F32", shape: [2, 2], values: [1, 2, 3, 4] }]);
    await writeModel(aligned, [{ name: "a", dtype: "F32", shape: [2], values: [1, 2] }, { name: "only1", dtype: "F32", shape: [1], values: [1] }, { name: "s", dtype: "F32", shape: [4], values: [1, 2, 3, 4] }]);
    const err = await extrapolate({ sft, aligned, alpha: 0.3, out }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/1 tensor\(s\) only in θ1 \(--aligned\): "only1"/);
    expect(err.message).toMatch(/1 tensor\(s\) only in θ0 \(--sft\): "only0"/);
    expect(err.message).toMatch(/"s": θ0 \[2, 2\] vs θ1 \[4\]/);
    expect((await readdir(root)).filter((n) => n.startsWith("e-out") || n.includes(".tmp-"))).toEqual([]);
  });

  it("NaN/Inf inputs and overflow fail the run unless allowed, and are counted", async () => {
    const sft = join(root, "n-sft"), aligned = join(root, "n-aligned"), out = join(root, "n-out");
    await writeModel(sft, [{ name: "w", dtype: "F16", shape: [4], values: [1, NaN, 0, 60000] }]);
    await writeModel(aligned, [{ name: "w", dtype: "F16", shape: [4], values: [1, 1, Infinity, 65000] }]);
    const err = await extrapolate({ sft, aligned, alpha: 1, out }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/2 element\(s\) with NaN\/Inf in the inputs and 1 result\(s\) beyond the range/);
    expect(err.message).toMatch(/--allow-nonfinite/);
    expect((await readdir(root)).filter((n) => n.startsWith("n-out") || n.includes(".tmp-"))).toEqual([]);
    const r = await extrapolate({ sft, aligned, alpha: 1, out, allowNonFinite: true });
    expect([r.nonFiniteInputs, r.overflows]).toEqual([2, 1]);
    const w = await openModelWeights(out);
    expect(bitsOf(await w.readBytes("w"), "F16")).toEqual([0x3c00, 0x7e00, 0x7c00, 0x7c00]); // 1; NaN; ∞ + (∞ − 0) = ∞; 65024 + 5024 overflows
    await w.close();
  });

  it("refuses an existing output unless --overwrite, then replaces it", async () => {
    const sft = join(root, "m-sft"), aligned = join(root, "m-aligned"), out = join(root, "o-out");
    await mkdir(out);
    await writeFile(join(out, "keep.txt"), "x");
    await expect(extrapolate({ sft, aligned, alpha: 0.5, out })).rejects.toThrow(/--out .*o-out: folder exists and is not empty \(pass --overwrite/);
    expect(await readdir(out)).toEqual(["keep.txt"]);
    await extrapolate({ sft, aligned, alpha: 0.5, out, overwrite: true });
    expect(await readdir(out)).not.toContain("keep.txt");
  });

  it("α = −1 gives θ0 back and α = −0.5 the midpoint (the search's interpolation sanity check)", async () => {
    const sft = join(root, "neg-sft"), aligned = join(root, "neg-aligned");
    await writeTinyModel({ dir: sft, dtype: "F32", seed: 4 });
    await deriveTinyModel({ from: sft, dir: aligned, relativeDelta: 0.01, seed: 5 });
    await extrapolate({ sft, aligned, alpha: -1, out: join(root, "neg-1") });
    await extrapolate({ sft, aligned, alpha: -0.5, out: join(root, "neg-half") });
    const [w0, w1, back, half] = await Promise.all([sft, aligned, join(root, "neg-1"), join(root, "neg-half")].map((d) => openModelWeights(d)));
    try {
      const name = "model.layers.1.mlp.down_proj.weight";
      const [a0, a1, b, h] = await Promise.all([w0, w1, back, half].map((w) => w.readFloat32(name)));
      expect(b).toEqual(a0);
      for (let i = 0; i < h.length; i++) expect(h[i]).toBe(Math.fround(a1[i] + -0.5 * (a1[i] - a0[i])));
    } finally {
      await Promise.all([w0, w1, back, half].map((w) => w.close()));
    }
  });

  it("bad options name the flag", async () => {
    const sft = join(root, "m-sft"), aligned = join(root, "m-aligned"), out = join(root, "bad-out");
    await expect(extrapolate({ sft, aligned, alpha: -1.5, out })).rejects.toThrow(/α must be ≥ −1/);
    await expect(extrapolate({ sft, aligned, alpha: 0.1, out, rules: ["(oops=1"] })).rejects.toThrow(/--alpha-rule "\(oops=1": "\(oops" is not a valid regular expression/);
    await expect(extrapolate({ sft, aligned, alpha: 0.1, out, rules: ["noequals"] })).rejects.toThrow(/expected PATTERN=ALPHA/);
    await expect(extrapolate({ sft, aligned, alpha: 0.1, out, dtype: "int4" })).rejects.toThrow(/--dtype: unknown float dtype "int4"/);
    await expect(extrapolate({ sft, aligned, alpha: 0.1, out, shardSize: "lots" })).rejects.toThrow(/--shard-size: not a size/);
    await expect(extrapolate({ sft: join(root, "nope"), aligned, alpha: 0.1, out })).rejects.toThrow(/nope: no model.safetensors or model.safetensors.index.json found/);
    await expect(extrapolate({ sft, aligned: join(root, "nope"), alpha: 0.1, out })).rejects.toThrow(/--aligned .*nope: no config.json/);
    expect((await readdir(root)).filter((n) => n.startsWith("bad-out"))).toEqual([]);
  });

  describe("malformed inputs fail with the file's error and leave nothing", () => {
    for (const c of malformedCorpus().slice(0, 29)) {
      it(c.label, async () => {
        const dir = join(root, `mal-${c.label.replace(/\W+/g, "-")}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, "model.safetensors"), c.bytes);
        await writeFile(join(dir, "config.json"), "{}");
        const out = join(root, `mal-out-${c.label.replace(/\W+/g, "-")}`);
        const err = await extrapolate({ sft: join(root, "m-sft"), aligned: dir, alpha: 0.3, out }).catch((e) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err.message).toMatch(c.error);
        expect(err.message).toContain(join(dir, "model.safetensors"));
        expect((await readdir(root)).filter((n) => n.startsWith("mal-out") || n.includes(".tmp-"))).toEqual([]);
      });
    }
  });
});
