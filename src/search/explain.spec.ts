import { describe, expect, it } from "vitest";
import { alphaTableText, decisionText, publishedGainText, whyChosen } from "./explain.js";
import type { AlphaReport, SearchReport } from "./schema.js";

const iv = (mean: number, lo: number, hi: number) => ({ mean, lo, hi });
function alpha(a: number, mean: number, gain?: [number, number, number]): AlphaReport {
  return {
    alpha: a,
    role: a === 0 ? "baseline" : a < 0 ? "sanity" : "candidate",
    status: a === 0 ? "baseline" : a < 0 ? "sanity" : "finalist",
    n: 24,
    rewards: [],
    tokens: [],
    reward: iv(mean, mean - 1, mean + 1),
    meanTokens: 24,
    ...(gain ? { vsBaseline: { n: 24, gain: iv(...gain), gainAdjusted: iv(...gain), winRate: 1, lengthRatio: 1, significant: true, lengthFlag: false } } : {}),
    rewardLengthCorrelation: null,
  };
}

const report = {
  statistics: { level: 0.95 },
  strategy: { name: "auto", options: {}, rounds: [{ phase: "race", prompts: 24, alphas: [1, 1.5], note: "quadratic vertex at α≈1.42; confirming on all prompts" }] },
  alphas: [alpha(-0.5, 26, [-7.356, -9, -5]), alpha(0, 34.1), alpha(1, 40.8, [6.716, 5.153, 8.91]), alpha(1.5, 40.0, [5.93, 4.506, 7.96])],
  sanity: { alpha: -0.5, n: 24, gain: iv(-7.356, -9, -5), note: "" },
  decision: { kind: "alpha", alpha: 1.5, gain: iv(5.93, 4.2, 8.9), winRate: 1, lengthRatio: 1, lengthFlag: false, reason: "" },
} as unknown as SearchReport;

describe("explain", () => {
  it("says why the chosen α is not the highest mean", () => {
    expect(whyChosen(report)).toMatch(/α = 1\.5 was chosen although α = 1 has the higher mean reward \(40\.800 vs 40\.000\): .*parabola .*α≈1\.42/);
    const top = { ...report, decision: { ...report.decision, alpha: 1 } } as SearchReport;
    expect(whyChosen(top)).toBeNull();
  });

  it("prints the per-α table with differences labelled as differences, the sanity row among them", () => {
    const t = alphaTableText(report);
    expect(t).toMatch(/Δ reward vs α=0 \[95 % CI, this α alone\]/);
    expect(t).toMatch(/^1\.5 .*\+5\.930 \[\+4\.506, \+7\.960\].*← chosen/m);
    expect(t).toMatch(/^0 .*\(baseline: θ1\)/m);
    expect(t).toMatch(/^-0\.5 .*−7\.356 .*sanity check \(towards θ0\)/m);
  });

  it("labels the decision as the selection's evidence, says why its interval differs from the table's, and points to the published gain", () => {
    const reason = "α=1.5 beats α=0 by 5.930 in mean reward on 24 prompts (99.4 % bootstrap interval 3.900…9.100, Bonferroni-adjusted for choosing among 8 α), win rate 100.0 %";
    const reported = { source: "held-out", n: 12, gain: iv(7.5, 3.4, 11.6), winRate: 1, lengthRatio: 1.28, lengthControlled: iv(4.1, 2.9, 5.3), lengthControlledSignificant: true };
    const full = { ...report, statistics: { level: 0.95, comparisons: 8 }, decision: { ...report.decision, reason, reported } } as unknown as SearchReport;
    expect(decisionText(full)).toBe(`chosen α = 1.5: ${reason} — the selection's evidence: this interval allows for choosing among 8 α, so it is wider than the table's 95 % CI for α = 1.5; the published gain below is the figure to quote`);
    expect(publishedGainText(full)).toBe("published gain (Δ reward vs α=0, 95 % CI) on 12 held-out prompts: +7.500 [+3.400, +11.600]; answers 28 % longer; at equal length +4.100 [+2.900, +5.300]");
    // One α (pinned): no adjustment to explain.
    const one = { ...full, statistics: { level: 0.95, comparisons: 1 } } as SearchReport;
    expect(decisionText(one)).not.toContain("wider");
    expect(decisionText({ ...report, decision: { kind: "no-gain", reason: "no α beats α=0" } } as unknown as SearchReport)).toBe("no gain: no α beats α=0");
  });
});

