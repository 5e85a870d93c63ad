/**
 * One paired comparison of an α with α = 0 on the prompts both answered: the mean reward
 * difference with a seeded bootstrap interval, the win rate, the length ratio and the
 * length-controlled gain. Used for every row of the table (selection prompts) and for the
 * reported gain of the chosen α (held-out prompts), so both are computed the same way.
 */
import { bootstrapMeanCI, lengthControlledGain, mean, meanCI, trimmedMeanCI, winRate, type Interval } from "./stats.js";
import type { Observation } from "./types.js";

export interface PairedComparison {
  n: number;
  gain: Interval;
  /** The bootstrap interval at `adjustedLevel` (equal to `gain` when none is asked for). */
  gainAdjusted: Interval;
  /** The t interval at `adjustedLevel` (the decision requires it to agree with the bootstrap). */
  tAdjusted: Interval;
  /** Yuen's 5 %-trimmed interval at `adjustedLevel` (the decision requires it too: no gain resting on a few wild scores). */
  trimmedAdjusted: Interval;
  winRate: number;
  lengthRatio: number;
  lengthControlled: Interval;
  /** Reward per unit of ln(length ratio), as fitted with the length-controlled gain. */
  lengthSlope: number;
}

export function pairedComparison(options: {
  obs: readonly Observation[];
  base: readonly Observation[];
  level: number;
  adjustedLevel?: number;
  resamples: number;
  seed: number;
}): PairedComparison {
  const { obs, base, level, resamples, seed } = options;
  const adjustedLevel = options.adjustedLevel ?? level;
  const n = Math.min(obs.length, base.length);
  const diffs = new Float64Array(n);
  const logRatios = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    diffs[i] = obs[i].reward - base[i].reward;
    logRatios[i] = Math.log(Math.max(1, obs[i].tokens) / Math.max(1, base[i].tokens));
  }
  const gain = bootstrapMeanCI(diffs, { level, resamples, seed });
  const gainAdjusted = adjustedLevel === level ? gain : bootstrapMeanCI(diffs, { level: adjustedLevel, resamples, seed });
  const baseTokens = mean(base.slice(0, n).map((o) => o.tokens));
  const lengthRatio = baseTokens > 0 ? mean(obs.slice(0, n).map((o) => o.tokens)) / baseTokens : NaN;
  const lc = lengthControlledGain(diffs, logRatios, level);
  return {
    n,
    gain,
    gainAdjusted,
    tAdjusted: meanCI(diffs, adjustedLevel),
    trimmedAdjusted: trimmedMeanCI(diffs, adjustedLevel),
    winRate: winRate(obs.slice(0, n).map((o) => o.reward), base.slice(0, n).map((o) => o.reward)),
    lengthRatio: Number.isFinite(lengthRatio) ? lengthRatio : 1,
    lengthControlled: lc.gain,
    lengthSlope: lc.slope,
  };
}

/** Share of answers cut at maxTokens; null when the backend never said why it stopped. */
export function truncatedShare(obs: readonly Observation[]): number | null {
  const known = obs.filter((o) => o.truncated !== undefined);
  if (known.length === 0) return null;
  return known.filter((o) => o.truncated).length / known.length;
}
