import { describe, expect, it } from "vitest";
import { alphaFor, assignShards, parseAlphaRule, planExtrapolation, type TensorHeader } from "./plan.js";

const h = (dtype: TensorHeader["dtype"], ...shape: number[]): TensorHeader => ({ dtype, shape });
const m = (entries: Record<string, TensorHeader>) => new Map(Object.entries(entries));

describe("α rules", () => {
  it("split at the last '=', search (not anchor) the name, first match wins", () => {
    const rules = [parseAlphaRule("lm_head|embed_tokens=0"), parseAlphaRule("a=b=1.5"), parseAlphaRule("layers\\.1\\.=2")];
    expect(rules[1].pattern.source).toBe("a=b");
    expect(alphaFor("lm_head.weight", { alpha: 0.3, rules })).toEqual({ alpha: 0, rule: "lm_head|embed_tokens=0" });
    expect(alphaFor("model.layers.1.embed_tokens", { alpha: 0.3, rules }).alpha).toBe(0);
    expect(alphaFor("model.layers.1.mlp", { alpha: 0.3, rules })).toEqual({ alpha: 2, rule: "layers\\.1\\.=2" });
    expect(alphaFor("model.norm.weight", { alpha: 0.3, rules })).toEqual({ alpha: 0.3, rule: null });
  });
  it("refuses bad rules with the text in the message", () => {
    expect(() => parseAlphaRule("=1")).toThrow(/"=1": expected PATTERN=ALPHA/);
    expect(() => parseAlphaRule("x=")).toThrow(/expected PATTERN=ALPHA/);
    expect(() => parseAlphaRule("x=NaN")).toThrow(/not a finite number/);
    expect(() => parseAlphaRule("x=-1.5")).toThrow(/α must be ≥ −1/);
    expect(parseAlphaRule("x=-0.5").alpha).toBe(-0.5); // interpolation towards θ0 (sanity checks)
    expect(() => parseAlphaRule("(=1")).toThrow(/not a valid regular expression/);
  });
});

describe("planExtrapolation", () => {
  it("extrapolates floats, copies ints, handles α = 0, vocab growth and dtype override", () => {
    const plan = planExtrapolation(
      m({ "model.embed_tokens.weight": h("F32", 10, 4), w: h("BF16", 4, 4), ids: h("I64", 3), n: h("BF16", 4) }),
      m({ "model.embed_tokens.weight": h("BF16", 12, 4), w: h("BF16", 4, 4), ids: h("I64", 3), n: h("BF16", 4) }),
      { alpha: 0.5, rules: [parseAlphaRule("^n$=0")], dtype: "F16" },
    );
    const byName = Object.fromEntries(plan.actions.map((a) => [a.name, a]));
    expect(byName["model.embed_tokens.weight"]).toMatchObject({ kind: "extrapolate", dtype: "F16", sharedElements: 40, vocab: { theta0Rows: 10, theta1Rows: 12 }, theta0: { dtype: "F32" }, theta1: { dtype: "BF16" } });
    expect(byName.w).toMatchObject({ kind: "extrapolate", alpha: 0.5, sharedElements: 16 });
    expect(byName.ids).toMatchObject({ kind: "copy", dtype: "I64", reason: "non-float" });
    expect(byName.n).toMatchObject({ kind: "copy", dtype: "F16", reason: "alpha-zero", rule: "^n$=0" });
    expect(plan.notes.join()).toMatch(/2 more vocabulary rows/);
    expect(plan.ruleCounts).toEqual({ "(default)": 3, "^n$=0": 1 });
    expect(plan.outputBytes).toBe(12 * 4 * 2 + 16 * 2 + 24 + 8);
  });
  it("lists every problem at once", () => {
    expect(() =>
      planExtrapolation(
        m({ a: h("F32", 2), b: h("F32", 2, 2), c: h("F32", 1), lm_head_less: h("F32", 1), "model.embed_tokens.weight": h("F32", 5, 2), i: h("I32", 2) }),
        m({ a: h("F32", 2), b: h("F32", 4), d: h("F32", 1), lm_head_less: h("F32", 1), "model.embed_tokens.weight": h("F32", 4, 2), i: h("F32", 2) }),
        { alpha: 1 },
      ),
    ).toThrow(/only in θ1 \(--aligned\): "d"[\s\S]*only in θ0 \(--sft\): "c"[\s\S]*"b": θ0 \[2, 2\] vs θ1 \[4\][\s\S]*fewer vocabulary rows \(4\) than θ0 \(5\)[\s\S]*"i": θ0 I32, θ1 F32/);
  });
  it("tied lm_head in θ0 uses its embeddings", () => {
    const plan = planExtrapolation(m({ "model.embed_tokens.weight": h("F32", 4, 2) }), m({ "model.embed_tokens.weight": h("F32", 4, 2), "lm_head.weight": h("F32", 4, 2) }), { alpha: 1 });
    expect(plan.actions[1]).toMatchObject({ name: "lm_head.weight", tiedFrom: "model.embed_tokens.weight", theta0: { name: "model.embed_tokens.weight" } });
  });
  it("shards greedily in θ1's order; a tensor bigger than the limit gets a shard alone", () => {
    const plan = planExtrapolation(m({ a: h("F32", 10), b: h("F32", 10), c: h("F32", 100), d: h("F32", 1) }), m({ a: h("F32", 10), b: h("F32", 10), c: h("F32", 100), d: h("F32", 1) }), { alpha: 1, shardSize: 100 });
    expect(plan.shards.map((s) => [s.file, s.tensors])).toEqual([
      ["model-00001-of-00003.safetensors", ["a", "b"]],
      ["model-00002-of-00003.safetensors", ["c"]],
      ["model-00003-of-00003.safetensors", ["d"]],
    ]);
    expect(assignShards([], 10)).toEqual([{ file: "model.safetensors", tensors: [], bytes: 0 }]);
  });
});
