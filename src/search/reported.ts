/**
 * The gain the card and comments publish, and the gates after the decision.
 *
 * Choosing the best of k noisy α and then quoting its gain on the same prompts reports the
 * maximum of k noisy estimates: biased upward, and its interval too narrow (issue 15 measured
 * a true +0.18 reported as +0.27, the 95 % interval covering the truth in 86 % of publishes). So
 * the search keeps the last prompts of the seeded order out of the selection (`heldOut`) and,
 * once α is chosen, measures α and α = 0 on them: those answers are independent of the
 * choice, so their paired mean is unbiased for the chosen α's true gain and its interval has
 * its nominal coverage. docs/search.md argues the design and bench:search measures coverage.
 */
import { pairedComparison, truncatedShare } from "./compare.js";
import { meanCI } from "./stats.js";
import type { Evaluator } from "./evaluator.js";
import type { Decision, ReportedGain, SearchReport } from "./schema.js";
import { json } from "./summary.js";

export interface ReportedGainOptions {
  level: number;
  resamples: number;
  seed: number;
}

/**
 * The chosen α's reported gain: on the held-out prompts when the evaluator has some (it
 * evaluates α and α = 0 there first), else on every prompt both were evaluated on — the case
 * of a single pinned α, where nothing was selected and nothing inflated.
 */
export async function measureReportedGain(ev: Evaluator, alpha: number, options: ReportedGainOptions): Promise<ReportedGain> {
  const heldOut = ev.heldOutCount > 0;
  if (heldOut) {
    // Start with the model already loaded: one switch fewer.
    const order = ev.lastAlpha === alpha ? [alpha, 0] : [0, alpha];
    for (const a of order) await ev.ensureHeldOut(a);
  }
  const obs = heldOut ? ev.heldOutObservations(alpha) : ev.observations(alpha);
  const base = heldOut ? ev.heldOutObservations(0) : ev.observations(0);
  const c = pairedComparison({ obs, base, level: options.level, resamples: options.resamples, seed: options.seed ^ Math.round(alpha * 1e6) ^ 0x5eed });
  const lc = json(c.lengthControlled);
  // The published interval is the union of the percentile bootstrap and the t interval: with
  // heavy-tailed rewards (the benchmark's t(3) curve, 150 trials) the bootstrap alone covered
  // the true gain 92 % of the time, the union 93–95 %.
  const diffs = obs.slice(0, c.n).map((o, i) => o.reward - base[i].reward);
  const t = meanCI(diffs, options.level);
  const gain = { mean: c.gain.mean, lo: Math.min(c.gain.lo, t.lo), hi: Math.max(c.gain.hi, t.hi) };
  return {
    source: heldOut ? "held-out" : "all-prompts",
    n: c.n,
    gain: json(gain),
    winRate: c.winRate,
    lengthRatio: c.lengthRatio,
    lengthControlled: lc,
    lengthControlledSignificant: lc.lo !== null && lc.lo > 0,
    truncated: { alpha: truncatedShare(obs.slice(0, c.n)), baseline: truncatedShare(base.slice(0, c.n)) },
  };
}

/** A failed sanity check (θ1 − 0.5Δ not below θ1) stops publication: the decision becomes "no gain", saying why. */
export function applySanityGate(decision: Decision, sanity: SearchReport["sanity"]): Decision {
  if (decision.kind !== "alpha" || !sanity || sanity.passed !== false) return decision;
  const g = sanity.gain;
  return {
    kind: "no-gain",
    blocked: { alpha: decision.alpha, by: "sanity" },
    reason:
      `α=${decision.alpha} beat α=0 on the selection prompts, but the sanity check failed: α=${sanity.alpha} ` +
      `(θ1 − 0.5Δ) scored ${g.mean >= 0 ? "+" : ""}${g.mean.toFixed(3)} against θ1 on ${sanity.n} prompts` +
      `${g.lo !== null && g.hi !== null ? ` (95 % interval ${g.lo.toFixed(3)}…${g.hi.toFixed(3)})` : ""}, not below it. ` +
      `The direction θ0 → θ1 is not one the reward model prefers (is θ0 really θ1's parent?), so nothing is published.`,
  };
}
