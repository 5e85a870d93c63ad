/** Unit tests of the verdict's parts: card parsing, lineage, tokenizer comparison, tensor classification, thresholds. */
import { describe, expect, it } from "vitest";
import { parseCard, sameRepoId } from "./card.js";
import { checkLineage } from "./lineage.js";
import { classifyTensor } from "./sample.js";
import { resolveThresholds, DEFAULT_THRESHOLDS } from "./thresholds.js";
import { compareTokenizers } from "./tokenizer.js";
import { baseModelHints } from "./base-hints.js";

describe("model card", () => {
  it("reads base_model as a string or a list, tags and expo-parent, through a BOM and CRLF", () => {
    const c = parseCard("\uFEFF---\r\nbase_model:\r\n- Org/SFT\r\ntags:\r\n- expo\r\n- expo-parent:org/sft\r\n---\r\n# Body\r\n");
    expect(c).toMatchObject({ present: true, error: null, baseModels: ["Org/SFT"], expoParents: ["org/sft"], tags: ["expo", "expo-parent:org/sft"] });
    expect(parseCard("---\nbase_model: a/b\n---\n").baseModels).toEqual(["a/b"]);
    expect(parseCard("# no front matter").present).toBe(false);
    expect(parseCard(null).present).toBe(false);
  });

  it("reports broken or hostile YAML instead of throwing", () => {
    expect(parseCard("---\nbase_model: [unclosed\n---\n").error).toMatch(/not valid YAML/);
    const bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n---\n";
    expect(parseCard(bomb).error).toMatch(/not valid YAML|alias/i);
    expect(parseCard("---\n- just\n- a list\n---\n").error).toMatch(/not a YAML mapping/);
  });

  it("compares ids case-insensitively without revision", () => {
    expect(sameRepoId("Org/Model@main", "org/model")).toBe(true);
    expect(sameRepoId("org/model", "org/model-2")).toBe(false);
  });
});

describe("lineage", () => {
  const card = (meta: string) => parseCard(`---\n${meta}\n---\n`);
  it("confirms, warns on several parents, on another parent, and says unknown without an id", () => {
    expect(checkLineage(card("base_model: org/sft"), "org/sft", "x").lineage.status).toBe("confirmed");
    const several = checkLineage(card("base_model: [org/sft, org/other]"), "org/sft", "x");
    expect(several.reasons[0]).toMatchObject({ level: "warn", code: "lineage-several-parents" });
    expect(checkLineage(card("base_model: org/other"), "org/sft", "x").reasons[0]).toMatchObject({ level: "warn", code: "lineage-mismatch" });
    const unknown = checkLineage(card("base_model: org/sft"), null, "x");
    expect(unknown.lineage.status).toBe("unknown");
    expect(unknown.reasons[0]!.message).toMatch(/--sft-id/);
    expect(checkLineage(card("license: mit"), "org/sft", "x").lineage.status).toBe("unknown");
  });
});

describe("tokenizer comparison", () => {
  const bpe = (vocab: Record<string, number>, added: [number, string][] = [], merges = ["a b"]) =>
    JSON.stringify({ model: { type: "BPE", vocab, merges }, added_tokens: added.map(([id, content]) => ({ id, content })) });
  it("accepts identical and appended vocabularies, refuses moved ids, warns on other merges", () => {
    const base = bpe({ a: 0, b: 1, ab: 2 }, [[3, "<eos>"]]);
    expect(compareTokenizers(base, base)[0]!.code).toBe("tokenizer-identical");
    expect(compareTokenizers(base, bpe({ a: 0, b: 1, ab: 2 }, [[3, "<eos>"], [4, "<tool>"]]))[0]).toMatchObject({ code: "tokenizer-appended", level: "info" });
    const moved = compareTokenizers(base, bpe({ a: 0, b: 2, ab: 1 }, [[3, "<eos>"]]))[0]!;
    expect(moved).toMatchObject({ code: "tokenizer-mismatch", level: "refuse", numbers: { changed: 2 } });
    expect(compareTokenizers(base, bpe({ a: 0, b: 1, ab: 2 }, [[3, "<eos>"]], ["b a"]))[0]!.code).toBe("tokenizer-merges-differ");
  });
  it("reads Unigram vocabularies (id = index) and handles missing or broken files", () => {
    const uni = (pieces: string[]) => JSON.stringify({ model: { type: "Unigram", vocab: pieces.map((p) => [p, -1]) } });
    expect(compareTokenizers(uni(["<unk>", "▁a"]), uni(["<unk>", "▁a", "▁b"]))[0]!.code).toBe("tokenizer-appended");
    expect(compareTokenizers(uni(["<unk>", "▁a"]), uni(["▁a", "<unk>"]))[0]!.code).toBe("tokenizer-mismatch");
    expect(compareTokenizers(null, uni(["x"]))[0]).toMatchObject({ level: "warn", code: "tokenizer-unknown" });
    expect(compareTokenizers("{oops", uni(["x"]))[0]).toMatchObject({ level: "warn", code: "tokenizer-unreadable" });
  });
});

describe("tensor classification", () => {
  it("knows Llama, GPT-2 and GPT-NeoX naming", () => {
    expect(classifyTensor("model.layers.3.self_attn.q_proj.weight", [8, 8])).toEqual({ kind: "attention", layer: 3 });
    expect(classifyTensor("model.layers.3.mlp.down_proj.weight", [8, 8])).toEqual({ kind: "mlp", layer: 3 });
    expect(classifyTensor("model.layers.3.input_layernorm.weight", [8])).toEqual({ kind: "norm", layer: 3 });
    expect(classifyTensor("model.embed_tokens.weight", [10, 8])).toEqual({ kind: "embedding", layer: null });
    expect(classifyTensor("lm_head.weight", [10, 8])).toEqual({ kind: "head", layer: null });
    expect(classifyTensor("transformer.h.2.attn.c_attn.weight", [8, 24])).toEqual({ kind: "attention", layer: 2 });
    expect(classifyTensor("transformer.h.2.ln_1.weight", [8])).toEqual({ kind: "norm", layer: 2 });
    expect(classifyTensor("transformer.wte.weight", [10, 8])).toEqual({ kind: "embedding", layer: null });
    expect(classifyTensor("gpt_neox.layers.1.mlp.dense_h_to_4h.weight", [32, 8])).toEqual({ kind: "mlp", layer: 1 });
    expect(classifyTensor("model.layers.0.self_attn.q_proj.bias", [8])).toEqual({ kind: "bias", layer: 0 });
  });
});

describe("base-model hints", () => {
  const none = { present: true, error: null, baseModels: [], baseModelRelation: null, tags: [], expoParents: [], pipelineTag: null, body: "" };
  it("does not flag an instruct model with a template, and flags a template-less one", () => {
    expect(baseModelHints({ label: "org/Model-7B-Instruct", card: none, tokenizerConfig: { chat_template: "{{x}}" }, hasChatTemplateFile: false, config: null })[0]!.code).toBe("sft-looks-like-sft");
    expect(baseModelHints({ label: "org/Model-7B-Instruct", card: none, tokenizerConfig: {}, hasChatTemplateFile: true, config: null })[0]!.code).toBe("sft-looks-like-sft");
    const r = baseModelHints({ label: "org/Model-7B", card: none, tokenizerConfig: {}, hasChatTemplateFile: false, config: null })[0]!;
    expect(r).toMatchObject({ level: "warn", code: "sft-looks-like-base", numbers: { hints: 1 } });
  });
});

describe("thresholds", () => {
  it("defaults, accepts numeric strings, and validates", () => {
    expect(resolveThresholds()).toEqual(DEFAULT_THRESHOLDS);
    expect(resolveThresholds({ warnCosine: "0.95" }).warnCosine).toBe(0.95);
    expect(() => resolveThresholds({ warnRelativeDistance: 0.6 })).toThrow(/must not exceed refuseRelativeDistance/);
    expect(() => resolveThresholds({ warnCosine: 1.5 })).toThrow(/at most 1/);
    expect(() => resolveThresholds({ maxSampledTensors: 2.5 })).toThrow(/integer/);
    expect(() => resolveThresholds({ sampleFraction: -1 })).toThrow(/non-negative/);
  });
});
