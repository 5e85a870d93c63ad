import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveTinyModel, writeTinyModel } from "../../synthetic/tiny-model.js";
import { checkPair } from "./check.js";
import type { Verdict } from "./types.js";

const root = await mkdtemp(join(tmpdir(), "expo-verdict-"));
afterAll(() => rm(root, { recursive: true, force: true }));
const dir = (name: string) => join(root, name);
const codes = (v: Verdict) => v.reasons.map((r) => r.code);
const reason = (v: Verdict, code: string) => v.reasons.find((r) => r.code === code);

beforeAll(async () => {
  await writeTinyModel({ dir: dir("sft"), seed: 3, shards: 2 });
  await deriveTinyModel({ from: dir("sft"), dir: dir("dpo"), relativeDelta: 0.01, card: { base_model: "org/sft", tags: ["expo"] } });
});

describe("checkPair on local folders", () => {
  it("passes a same-lineage pair (θ1 = θ0 + a fine-tuning-sized Δ) and says why", async () => {
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo"), sftId: "org/sft" });
    expect(v.verdict).toBe("pass");
    expect(v.lineage).toMatchObject({ status: "confirmed", via: "base_model" });
    expect(codes(v)).toEqual(expect.arrayContaining(["lineage-confirmed", "config-match", "tokenizer-identical", "tensors-match", "weights-close", "sft-looks-like-sft"]));
    expect(v.overall!.relativeDistance).toBeGreaterThan(0.005);
    expect(v.overall!.relativeDistance).toBeLessThan(0.02);
    expect(v.overall!.cosine).toBeGreaterThan(0.999);
    // Several depths and kinds were sampled.
    const kinds = new Set(v.tensors.map((t) => t.kind));
    for (const k of ["attention", "mlp", "norm", "embedding", "head"]) expect(kinds).toContain(k);
    expect(new Set(v.tensors.map((t) => t.layer).filter((l) => l !== null))).toEqual(new Set([0, 1]));
    expect(v.usage.sft.samples.requests).toBe(v.tensors.length);
    expect(v.usage.sft.headers.requests).toBe(1 + 2 * 2); // the shard index, then two reads per shard
  });

  it("is deterministic: the same pair gives the same numbers", async () => {
    const a = await checkPair({ sft: dir("sft"), aligned: dir("dpo") });
    const b = await checkPair({ sft: dir("sft"), aligned: dir("dpo") });
    expect(b.tensors).toEqual(a.tensors);
    expect(b.usage.bytes).toBe(a.usage.bytes);
  });

  it("says lineage is unknown, not refuted, when θ0 is a folder without an id", async () => {
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo") });
    expect(v.verdict).toBe("pass");
    expect(v.lineage.status).toBe("unknown");
    expect(reason(v, "lineage-unknown")!.message).toContain("org/sft");
    expect(reason(v, "lineage-unknown")!.level).toBe("info");
  });

  it("warns when θ1's card names another parent, and accepts an expo-parent tag", async () => {
    await deriveTinyModel({ from: dir("sft"), dir: dir("dpo-other-card"), relativeDelta: 0.01, card: { base_model: "org/pretrained-base" } });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-other-card"), sftId: "org/sft" });
    expect(v.verdict).toBe("warn");
    expect(reason(v, "lineage-mismatch")!.message).toContain("org/pretrained-base");
    await deriveTinyModel({ from: dir("sft"), dir: dir("dpo-tag"), relativeDelta: 0.01, card: { base_model: "org/pretrained-base", tags: ["expo", "expo-parent:Org/SFT"] } });
    const w = await checkPair({ sft: dir("sft"), aligned: dir("dpo-tag"), sftId: "org/sft" });
    expect(w.verdict).toBe("pass");
    expect(w.lineage).toMatchObject({ status: "confirmed", via: "expo-parent" });
  });

  it("refuses an independently initialised pair with the numbers", async () => {
    await writeTinyModel({ dir: dir("other"), seed: 99, card: { base_model: "org/sft" } });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("other"), sftId: "org/sft" });
    expect(v.verdict).toBe("refuse");
    const r = reason(v, "weights-unrelated")!;
    expect(r.level).toBe("refuse");
    expect(v.overall!.cosine).toBeLessThan(0.1);
    expect(v.overall!.relativeDistance).toBeGreaterThan(1.2);
    expect(r.message).toMatch(/relative distance .*1\.4/);
    expect(r.numbers!.cosine).toBe(v.overall!.cosine);
  });

  it("refuses θ1 = θ0 (nothing to extrapolate)", async () => {
    const v = await checkPair({ sft: dir("sft"), aligned: dir("sft") });
    expect(v.verdict).toBe("refuse");
    expect(codes(v)).toContain("weights-identical");
  });

  it("refuses different shapes and different architectures", async () => {
    await writeTinyModel({ dir: dir("narrow"), hiddenSize: 32, seed: 3 });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("narrow") });
    expect(v.verdict).toBe("refuse");
    expect(reason(v, "config-shape-mismatch")!.message).toContain("hidden_size 64 vs 32");
    expect(codes(v)).toContain("tensor-shapes-differ");
    await writeTinyModel({ dir: dir("qwen"), architecture: "qwen2", seed: 3 });
    const w = await checkPair({ sft: dir("sft"), aligned: dir("qwen") });
    expect(w.verdict).toBe("refuse");
    expect(codes(w)).toEqual(expect.arrayContaining(["architecture-mismatch", "tensor-names-differ"]));
  });

  it("passes θ1 with appended tokens (extra embedding rows) and compares only θ0's rows", async () => {
    await deriveTinyModel({ from: dir("sft"), dir: dir("dpo-tools"), relativeDelta: 0.01, extraTokens: ["<tool>", "</tool>"] });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-tools") });
    expect(v.verdict).toBe("pass");
    expect(codes(v)).toEqual(expect.arrayContaining(["tokenizer-appended", "vocab-grown", "vocab-rows-appended", "weights-close"]));
    expect(reason(v, "tokenizer-appended")!.message).toContain('"<tool>"');
    const emb = v.tensors.find((t) => t.kind === "embedding")!;
    expect(emb.shape.aligned[0]).toBe(emb.shape.sft[0] + 2);
    expect(emb.offset + emb.elements).toBeLessThanOrEqual(emb.shape.sft[0] * emb.shape.sft[1]);
    expect(emb.cosine).toBeGreaterThan(0.999);
  });

  it("refuses a tokenizer whose ids mean different tokens, and a shrunken vocabulary", async () => {
    await cp(dir("dpo"), dir("dpo-swapped"), { recursive: true });
    const path = join(dir("dpo-swapped"), "tokenizer.json");
    const tok = JSON.parse(await readFile(path, "utf8"));
    const vocab = tok.model.vocab as Record<string, number>;
    const [a, b] = ["a", "b"];
    [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
    await writeFile(path, JSON.stringify(tok));
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-swapped") });
    expect(v.verdict).toBe("refuse");
    const r = reason(v, "tokenizer-mismatch")!;
    expect(r.numbers).toMatchObject({ changed: 2, missing: 0 });
    expect(r.message).toContain('"a"');
    // θ0 with appended tokens, θ1 without: θ1 lost tokens.
    const w = await checkPair({ sft: dir("dpo-tools"), aligned: dir("dpo") });
    expect(w.verdict).toBe("refuse");
    expect(codes(w)).toEqual(expect.arrayContaining(["tokenizer-mismatch", "vocab-shrunk", "tensor-shapes-differ"]));
  });

  it("warns when θ0 looks like a base model (no chat template, base in its name or tags)", async () => {
    await writeTinyModel({ dir: dir("llm-base"), seed: 5, withChatTemplate: false, card: { tags: ["pretrained"] } });
    await deriveTinyModel({ from: dir("llm-base"), dir: dir("llm-sft"), relativeDelta: 0.02, withChatTemplate: true });
    const v = await checkPair({ sft: dir("llm-base"), aligned: dir("llm-sft") });
    expect(v.verdict).toBe("warn");
    const r = reason(v, "sft-looks-like-base")!;
    expect(r.level).toBe("warn");
    expect(r.message).toContain("no chat template");
    expect(r.message).toContain('"llm-base"');
    expect(r.message).toContain("pretrained");
    expect(r.numbers!.hints).toBe(3);
  });

  it("warns when θ1 moved further than preference training does, and when it barely moved", async () => {
    await deriveTinyModel({ from: dir("sft"), dir: dir("far"), relativeDelta: 0.2 });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("far") });
    expect(v.verdict).toBe("warn");
    expect(codes(v)).toContain("weights-far");
    await deriveTinyModel({ from: dir("sft"), dir: dir("near"), relativeDelta: 2e-5 });
    const w = await checkPair({ sft: dir("sft"), aligned: dir("near") });
    expect(w.verdict).toBe("warn");
    expect(codes(w)).toContain("weights-barely-moved");
    // Thresholds are configurable: the same pair passes with a lower floor.
    const x = await checkPair({ sft: dir("sft"), aligned: dir("near"), thresholds: { tinyRelativeDistance: 1e-6 } });
    expect(x.verdict).toBe("pass");
  });

  it("compares across precisions (θ0 F32, θ1 BF16) and warns about the rounding", async () => {
    await deriveTinyModel({ from: dir("sft"), dir: dir("dpo-bf16"), relativeDelta: 0.01, dtype: "BF16" });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-bf16") });
    expect(v.verdict).toBe("warn");
    expect(codes(v)).toEqual(expect.arrayContaining(["dtype-differs", "weights-close"]));
    expect(v.tensors[0]!.dtype).toEqual({ sft: "F32", aligned: "BF16" });
    expect(v.overall!.relativeDistance).toBeGreaterThan(0.009);
    expect(v.overall!.relativeDistance).toBeLessThan(0.012);
  });

  it("refuses a pair where one part of θ1 was re-initialised", async () => {
    await deriveTinyModel({
      from: dir("sft"),
      dir: dir("reinit"),
      delta: (name, t0) => {
        const out = new Float64Array(t0.length);
        if (name.startsWith("model.layers.1.self_attn.")) for (let i = 0; i < t0.length; i++) out[i] = -t0[i] + 0.02 * Math.sin(i * 12.9898 + 1.7);
        else for (let i = 0; i < t0.length; i++) out[i] = 0.01 * t0[i] * Math.cos(i * 7.1);
        return out;
      },
    });
    const v = await checkPair({ sft: dir("sft"), aligned: dir("reinit") });
    expect(v.verdict).toBe("refuse");
    expect(codes(v).some((c) => c === "tensors-unrelated" || c === "weights-unrelated")).toBe(true);
  });

  it("refuses a checkpoint whose safetensors header is hostile, naming the file", async () => {
    await cp(dir("dpo"), dir("dpo-hostile"), { recursive: true });
    const single = join(dir("dpo-hostile"), "model.safetensors");
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(10n ** 12n);
    await writeFile(single, Buffer.concat([prefix, Buffer.from("{}")]));
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-hostile") });
    expect(v.verdict).toBe("refuse");
    const r = reason(v, "weights-unreadable")!;
    expect(r.message).toContain("exceeds the limit");
    expect(r.message).toContain("model.safetensors");
  });

  it("refuses a missing config and rejects a reference that is neither folder nor Hub id", async () => {
    await cp(dir("dpo"), dir("dpo-noconfig"), { recursive: true });
    await rm(join(dir("dpo-noconfig"), "config.json"));
    const v = await checkPair({ sft: dir("sft"), aligned: dir("dpo-noconfig") });
    expect(v.verdict).toBe("refuse");
    expect(reason(v, "config-unreadable")!.message).toContain("config.json is missing");
    await expect(checkPair({ sft: dir("sft"), aligned: join(root, "no", "such", "folder") })).rejects.toThrow(/neither a local folder nor a Hub id/);
  });

  it("validates thresholds", async () => {
    await expect(checkPair({ sft: dir("sft"), aligned: dir("dpo"), thresholds: { warnCosine: 0.5, refuseCosine: 0.9 } })).rejects.toThrow(/refuseCosine/);
    await expect(checkPair({ sft: dir("sft"), aligned: dir("dpo"), thresholds: { nope: 1 } as never })).rejects.toThrow(/unknown threshold "nope"/);
  });
});

describe("child or sibling", () => {
  beforeAll(async () => {
    // One base, two separate fine-tunes of it (siblings), and a real child of the first.
    await writeTinyModel({ dir: dir("base"), seed: 21, dtype: "BF16" });
    await deriveTinyModel({ from: dir("base"), dir: dir("sib-sft"), relativeDelta: 0.02, seed: 1, dtype: "BF16", card: { base_model: "org/base" } });
    await deriveTinyModel({ from: dir("base"), dir: dir("sib-dpo"), relativeDelta: 0.02, seed: 2, dtype: "BF16", card: { base_model: "org/base", tags: ["expo"] } });
    await deriveTinyModel({ from: dir("sib-sft"), dir: dir("child-dpo"), relativeDelta: 0.01, seed: 3, dtype: "BF16", card: { base_model: "org/base", tags: ["expo"] } });
  });

  it("refuses a sibling pair once the shared base is read, with the numbers", async () => {
    // Distance and cosine alone look like fine-tuning: the old check passed this pair.
    const blind = await checkPair({ sft: dir("sib-sft"), aligned: dir("sib-dpo"), sftId: "org/sft", base: false });
    expect(codes(blind)).toContain("weights-close");
    expect(codes(blind)).toContain("lineage-sibling"); // θ1 names θ0's own parent: a warning even without the base
    expect(blind.verdict).toBe("warn");

    const v = await checkPair({ sft: dir("sib-sft"), aligned: dir("sib-dpo"), sftId: "org/sft", base: dir("base") });
    expect(v.verdict).toBe("refuse");
    const r = reason(v, "sibling")!;
    expect(r.level).toBe("refuse");
    expect(r.numbers!.share as number).toBeLessThan(0.3);
    expect(r.message).toMatch(/sibling/);
    expect(r.message).toMatch(/bit-identical/);
    expect(v.sibling).toMatchObject({ base: dir("base"), error: null });
  });

  it("passes a real child of θ0 against the same base", async () => {
    const v = await checkPair({ sft: dir("sib-sft"), aligned: dir("child-dpo"), sftId: "org/sft", base: dir("base") });
    expect(codes(v)).not.toContain("sibling");
    const r = reason(v, "child-of-sft")!;
    expect(r.numbers!.share as number).toBeGreaterThan(0.9);
    expect(v.verdict).not.toBe("refuse");
  });

  it("reports an unreadable base instead of failing the check", async () => {
    const v = await checkPair({ sft: dir("sib-sft"), aligned: dir("sib-dpo"), sftId: "org/sft", base: dir("no-such-base") });
    expect(v.sibling?.error).toBeTruthy();
    expect(reason(v, "lineage-sibling")!.message).toMatch(/could not be read/);
  });
});

describe("integer tensors", () => {
  /** Rewrites a single-file tiny model with an extra I32 tensor holding `values`. */
  async function withIntTensor(from: string, to: string, values: number[]) {
    const { openSafetensorsFile } = await import("../../safetensors/reader.js");
    const { serializeSafetensors } = await import("../../safetensors/writer.js");
    await cp(from, to, { recursive: true });
    const file = await openSafetensorsFile(join(to, "model.safetensors"));
    const tensors = [];
    for (const name of file.tensorNames()) tensors.push({ name, dtype: file.info(name).dtype, shape: [...file.info(name).shape], data: await file.readTensor(name) });
    await file.close();
    tensors.push({ name: "model.extra_index", dtype: "I32" as const, shape: [values.length], data: new Uint8Array(Int32Array.from(values).buffer) });
    await writeFile(join(to, "model.safetensors"), serializeSafetensors(tensors));
  }

  it("accepts an integer buffer identical in θ0 and θ1 (extrapolate copies it) and refuses one that differs", async () => {
    await writeTinyModel({ dir: dir("int-base-sft"), seed: 5 });
    await deriveTinyModel({ from: dir("int-base-sft"), dir: dir("int-base-dpo"), relativeDelta: 0.01 });
    await withIntTensor(dir("int-base-sft"), dir("int-sft"), [0, 1, 2, 3]);
    await withIntTensor(dir("int-base-dpo"), dir("int-dpo-same"), [0, 1, 2, 3]);
    await withIntTensor(dir("int-base-dpo"), dir("int-dpo-differs"), [0, 1, 2, 4]);
    const same = await checkPair({ sft: dir("int-sft"), aligned: dir("int-dpo-same") });
    expect(codes(same)).not.toContain("non-float-weights");
    expect(codes(same)).toContain("integer-buffers-identical");
    expect(same.verdict).not.toBe("refuse");
    const differs = await checkPair({ sft: dir("int-sft"), aligned: dir("int-dpo-differs") });
    expect(differs.verdict).toBe("refuse");
    expect(reason(differs, "non-float-weights")!.message).toMatch(/differ between θ0 and θ1/);
  });
});
