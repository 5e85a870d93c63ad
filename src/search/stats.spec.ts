import { describe, expect, it } from "vitest";
import { bootstrapMeanCI, mean, meanCI, normalQuantile, pairedZ, pearson, quantileSorted, sd, tQuantile, winRate } from "./stats.js";

describe("statistics against hand-computed values", () => {
  it("mean and sample standard deviation", () => {
    expect(mean([1, 2, 3, 4, 5])).toBe(3);
    // Σ(x − 3)² = 10, /4 = 2.5
    expect(sd([1, 2, 3, 4, 5])).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(Number.isNaN(mean([]))).toBe(true);
    expect(Number.isNaN(sd([7]))).toBe(true);
  });

  it("normal and t quantiles match tables", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.005)).toBeCloseTo(-2.575829, 5);
    expect(tQuantile(0.975, 1)).toBeCloseTo(12.7062, 3);
    expect(tQuantile(0.975, 2)).toBeCloseTo(4.3027, 3);
    expect(tQuantile(0.975, 4)).toBeCloseTo(2.7764, 2);
    expect(tQuantile(0.975, 10)).toBeCloseTo(2.2281, 3);
    expect(tQuantile(0.975, 30)).toBeCloseTo(2.0423, 3);
    expect(tQuantile(0.995, 20)).toBeCloseTo(2.8453, 2);
  });

  it("mean CI: 3 ± t(0.975, 4)·√2.5/√5", () => {
    const ci = meanCI([1, 2, 3, 4, 5]);
    const half = 2.776445 * Math.sqrt(2.5) / Math.sqrt(5); // = 1.9633
    expect(ci.mean).toBe(3);
    expect(ci.lo).toBeCloseTo(3 - half, 2);
    expect(ci.hi).toBeCloseTo(3 + half, 2);
  });

  it("win rate counts ties as one half", () => {
    // wins: 3>1, 5>4; tie: 2=2; loss: 0<1 → (2 + 0.5)/4
    expect(winRate([3, 2, 0, 5], [1, 2, 1, 4])).toBe(0.625);
  });

  it("Pearson correlation", () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // x = 1,2,3,4; y = 1,3,2,4: Sxy = 4, Sxx = Syy = 5 → 0.8
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    expect(Number.isNaN(pearson([1, 1, 1], [1, 2, 3]))).toBe(true);
  });

  it("type-7 quantiles", () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantileSorted([10], 0.9)).toBe(10);
  });

  it("paired z", () => {
    // differences 1, 2, 3: mean 2, sd 1, se 1/√3
    const r = pairedZ([2, 4, 6], [1, 2, 3]);
    expect(r.diff).toBe(2);
    expect(r.se).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(r.z).toBeCloseTo(2 * Math.sqrt(3), 12);
  });

  it("bootstrap CI is seeded, deterministic and sensible", () => {
    const constant = bootstrapMeanCI([0.5, 0.5, 0.5, 0.5]);
    expect(constant).toEqual({ mean: 0.5, lo: 0.5, hi: 0.5 });
    const xs = Array.from({ length: 200 }, (_, i) => ((i * 37) % 101) / 50 - 1); // deterministic spread around 0
    const a = bootstrapMeanCI(xs, { seed: 7 });
    const b = bootstrapMeanCI(xs, { seed: 7 });
    expect(a).toEqual(b);
    expect(a.lo).toBeLessThan(a.mean);
    expect(a.hi).toBeGreaterThan(a.mean);
    // Close to the normal interval mean ± 1.96·sd/√n.
    const half = 1.96 * sd(xs) / Math.sqrt(xs.length);
    expect(a.hi - a.lo).toBeGreaterThan(2 * half * 0.85);
    expect(a.hi - a.lo).toBeLessThan(2 * half * 1.15);
    const wider = bootstrapMeanCI(xs, { seed: 7, level: 0.99 });
    expect(wider.hi - wider.lo).toBeGreaterThan(a.hi - a.lo);
  });
});

describe("the decision on a handful of prompts", () => {
  it("does not call two lucky prompts a significant gain", async () => {
    const { runSearch } = await import("./search.js");
    const { Simulation, SimulatedGenerator, SimulatedMaterializer, SimulatedScorer, simulatedPrompts } = await import("./simulate.js");
    const sim = new Simulation({ curve: { peak: 0, height: 0 }, seed: 2 });
    const report = await runSearch({
      prompts: simulatedPrompts(2),
      generator: new SimulatedGenerator(sim),
      scorer: new SimulatedScorer(sim),
      materializer: new SimulatedMaterializer(),
      models: { sft: { path: "s", revision: "0" }, aligned: { path: "s", revision: "1" } },
    });
    expect(report.decision.kind).toBe("no-gain");
    expect(report.decision.reason).toMatch(/too few prompts|includes 0/);
  });
});

describe("length-controlled and trimmed intervals", () => {
  it("the length-controlled gain is the intercept of the difference on the log length ratio", async () => {
    const { lengthControlledGain } = await import("./stats.js");
    const x = Array.from({ length: 40 }, (_, i) => Math.log(1 + (i % 8) / 10));
    const noise = Array.from({ length: 40 }, (_, i) => ((i * 7919) % 13) / 100 - 0.06);
    const d = x.map((v, i) => 0.5 + 2 * v + noise[i]);
    const r = lengthControlledGain(d, x);
    expect(r.gain.mean).toBeCloseTo(0.5, 1);
    expect(r.slope).toBeCloseTo(2, 0);
    expect(r.gain.lo).toBeLessThan(r.gain.mean);
    // All of a gain that comes with longer answers can be length: intercept ≈ 0.
    const lengthOnly = lengthControlledGain(x.map((v, i) => 2 * v + noise[i]), x);
    expect(Math.abs(lengthOnly.gain.mean)).toBeLessThan(0.05);
    expect(lengthOnly.gain.lo).toBeLessThan(0);
  });

  it("one wild score cannot carry the trimmed interval", async () => {
    const { meanCI, trimmedMeanCI } = await import("./stats.js");
    const xs = Array.from({ length: 200 }, (_, i) => Math.sin(i * 12.9898) * 0.5);
    expect(trimmedMeanCI(xs, 0.95, 0)).toEqual(meanCI(xs, 0.95));
    const wild = [...xs.slice(0, 199), 60];
    expect(meanCI(wild).mean).toBeGreaterThan(0.25);
    expect(Math.abs(trimmedMeanCI(wild).mean)).toBeLessThan(0.1);
    expect(trimmedMeanCI(wild).lo).toBeLessThan(0);
  });
});
