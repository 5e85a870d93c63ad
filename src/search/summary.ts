/**
 * From what a strategy evaluated to per-α statistics and the decision. The same code judges
 * every strategy, so the benchmark compares search procedures, not reporting rules.
 *
 * Decision rule: among the finalists (α > 0 not dropped by the race), the best α — highest
 * mean reward on the prompts they share — whose paired bootstrap interval of the gain over
 * α = 0 lies above zero at the Bonferroni-adjusted level 1 − (1 − level)/k, with k every
 * α > 0 evaluated (dropped ones count too: they were part of the selection), and the t
 * interval at that level agrees, on at least `minPrompts` (10) shared prompts. Else "no gain".
 */
import type { Evaluator } from "./evaluator.js";
import type { AlphaReport, Decision, IntervalJson, SearchReport } from "./schema.js";
import type { StrategyResult } from "./strategies.js";
import { pairedComparison, truncatedShare } from "./compare.js";
import { mean, meanCI, pearson, type Interval } from "./stats.js";

export interface SummaryOptions {
  level?: number;
  bootstrapResamples?: number;
  bootstrapSeed?: number;
  /** Flag a significant gain whose answers are more than this fraction longer than α = 0's (default 0.2). */
  lengthGuard?: number;
  /** Fewest shared prompts for a gain to count as significant (default 10). */
  minPrompts?: number;
  /** α of the interpolation sanity check, when it was evaluated (−0.5). */
  sanityAlpha?: number;
}

export const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
export const json = (i: Interval): IntervalJson => ({ mean: i.mean, lo: finite(i.lo), hi: finite(i.hi) });

export function summarize(ev: Evaluator, result: StrategyResult, options: SummaryOptions = {}): {
  alphas: AlphaReport[];
  decision: Decision;
  statistics: SearchReport["statistics"];
  sanity?: SearchReport["sanity"];
} {
  const level = options.level ?? 0.95;
  const resamples = options.bootstrapResamples ?? 2000;
  const seed = options.bootstrapSeed ?? 42;
  const lengthGuard = options.lengthGuard ?? 0.2;
  const sanityAlpha = options.sanityAlpha;
  const minPrompts = options.minPrompts ?? 10;
  const evaluated = ev.evaluatedAlphas().filter((a) => ev.count(a) > 0);
  const candidates = evaluated.filter((a) => a !== 0 && a !== sanityAlpha);
  const k = Math.max(1, candidates.filter((a) => a > 0).length || candidates.length);
  const adjustedLevel = 1 - (1 - level) / k;
  const droppedBy = new Map(result.dropped.map((d) => [d.alpha, d]));
  const base = ev.observations(0);

  const reports: AlphaReport[] = evaluated.map((alpha) => {
    const obs = ev.observations(alpha);
    const rewards = obs.map((o) => o.reward);
    const tokens = obs.map((o) => o.tokens);
    const role = alpha === 0 ? "baseline" : alpha === sanityAlpha ? "sanity" : "candidate";
    const drop = droppedBy.get(alpha);
    const status = role === "baseline" ? "baseline" : role === "sanity" ? "sanity" : drop && !result.finalists.includes(alpha) ? "dropped" : "finalist";
    const report: AlphaReport = {
      alpha,
      role,
      status,
      n: obs.length,
      rewards,
      tokens,
      reward: json(meanCI(rewards, level)),
      meanTokens: mean(tokens),
      rewardLengthCorrelation: finite(pearson(rewards, tokens)),
      truncated: truncatedShare(obs),
    };
    if (status === "dropped" && drop) report.dropped = { atPrompts: drop.atPrompts, reason: drop.reason };
    if (alpha !== 0) {
      // One seed per α so intervals do not depend on which other α were evaluated.
      const c = pairedComparison({ obs, base, level, adjustedLevel, resamples, seed: seed ^ Math.round(alpha * 1e6) });
      // The percentile bootstrap is too optimistic on a handful of prompts; require enough
      // prompts and agreement with the t interval at the same level — and with a 5 %-trimmed
      // interval, so a few wild reward scores (heavy tails) cannot carry the gain alone.
      const significant = c.n >= minPrompts && Number.isFinite(c.gainAdjusted.lo) && c.gainAdjusted.lo > 0 && c.tAdjusted.lo > 0 && c.trimmedAdjusted.lo > 0;
      report.vsBaseline = {
        n: c.n,
        gain: json(c.gain),
        gainAdjusted: json(c.gainAdjusted),
        winRate: c.winRate,
        lengthRatio: c.lengthRatio,
        significant,
        lengthFlag: significant && c.lengthRatio > 1 + lengthGuard,
        lengthControlled: json(c.lengthControlled),
        lengthSlope: c.lengthSlope,
      };
    }
    return report;
  });

  const allRewards = reports.flatMap((r) => r.rewards);
  const allTokens = reports.flatMap((r) => r.tokens);
  const statistics: SearchReport["statistics"] = {
    level,
    bootstrapResamples: resamples,
    bootstrapSeed: seed,
    comparisons: k,
    adjustedLevel,
    lengthGuard,
    rewardLengthCorrelation: finite(pearson(allRewards, allTokens)),
  };

  const finalists = reports.filter((r) => r.status === "finalist" && r.vsBaseline);
  // Rank on the prompts every finalist has (their race batch), not on the pick's extra prompts.
  const shared = Math.min(...finalists.map((r) => r.n));
  const ranked = [...finalists].sort((a, b) => mean(b.rewards.slice(0, shared)) - mean(a.rewards.slice(0, shared)));
  // The strategy's own pick comes first when it has one (auto: nearest the fitted vertex).
  const preferred = ranked.find((r) => r.alpha === result.preferred);
  if (preferred) ranked.splice(ranked.indexOf(preferred), 1), ranked.unshift(preferred);
  const winner = ranked.find((r) => r.vsBaseline!.significant);
  let decision: Decision;
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  // Why this interval is not the per-α table's 95 % CI of the same difference.
  const adjusted = k > 1 ? `Bonferroni-adjusted for choosing among ${k} α` : "one α, no adjustment";
  if (winner) {
    const v = winner.vsBaseline!;
    const better = ranked[0] !== winner ? ` (α=${ranked[0].alpha} ranked first but its gain is not significant)` : "";
    decision = {
      kind: "alpha",
      alpha: winner.alpha,
      gain: v.gainAdjusted,
      winRate: v.winRate,
      lengthRatio: v.lengthRatio,
      lengthFlag: v.lengthFlag,
      reason:
        `α=${winner.alpha} beats α=0 by ${v.gain.mean.toFixed(3)} in mean reward on ${v.n} prompts ` +
        `(${pct(adjustedLevel)} bootstrap interval ${v.gainAdjusted.lo!.toFixed(3)}…${v.gainAdjusted.hi!.toFixed(3)}, ` +
        `${adjusted}), win rate ${pct(v.winRate)}${better}` +
        (v.lengthFlag ? `; length guard: answers ${pct(v.lengthRatio - 1)} longer than α=0's` : ""),
    };
  } else {
    const top = ranked[0];
    const few = top && top.vsBaseline!.n < minPrompts;
    decision = {
      kind: "no-gain",
      reason: few
        ? `too few prompts to tell: α=${top.alpha} was compared with α=0 on ${top.vsBaseline!.n} prompts (at least ${minPrompts} needed)`
        : top
        ? `no α beats α=0 significantly: the best, α=${top.alpha}, gains ${top.vsBaseline!.gain.mean.toFixed(3)} ` +
          `(${pct(adjustedLevel)} bootstrap interval ${top.vsBaseline!.gainAdjusted.lo?.toFixed(3)}…${top.vsBaseline!.gainAdjusted.hi?.toFixed(3)}, ${adjusted}, includes 0)` +
          (result.futile
            ? `; α=${result.futile.alpha} was not given the remaining prompts: at the gain seen on ${result.futile.prompts} (z=${result.futile.z.toFixed(2)}), ` +
              `they would reach that level with less than ${(100 * result.futile.power).toFixed(0)} % probability`
            : "")
        : raceDropsReason(result),
    };
  }

  let sanity: SearchReport["sanity"];
  const s = reports.find((r) => r.role === "sanity");
  if (s?.vsBaseline) {
    const g = s.vsBaseline.gain;
    const below = g.hi !== null && g.hi < 0;
    // Failed: going back towards θ0 did not lose reward at all, so the direction θ0 → θ1 is not
    // one the reward model likes, and extrapolating along it has nothing to stand on (a sibling
    // θ0, or an unsuitable reward model). Not clearly below is only a warning.
    const passed = g.mean < 0;
    sanity = {
      alpha: s.alpha,
      n: s.vsBaseline.n,
      gain: g,
      passed,
      note: below
        ? "as expected (paper Fig. 1), the interpolated model θ1 − 0.5Δ scores below θ1"
        : passed
        ? "unexpected: the interpolated model θ1 − 0.5Δ does not score clearly below θ1 — check that θ1 really was trained from θ0 and that the reward model suits the task"
        : "failed: the interpolated model θ1 − 0.5Δ scores at least as well as θ1, so the reward model does not prefer the direction θ0 → θ1 — θ0 may not be θ1's parent (a sibling?) or the reward model does not suit the task; nothing is published",
    };
  }
  return { alphas: reports, decision, statistics, sanity };
}

/** Why no finalist is left: how many candidates the race dropped, and for what. */
function raceDropsReason(result: StrategyResult): string {
  const count = (kind: string) => result.dropped.filter((d) => d.kind === kind).length;
  const [worse, futile] = [count("worse"), count("futile")];
  if (worse + futile === 0) return "no α was evaluated beyond α=0";
  const parts = [
    ...(worse ? [`${worse} as confidently worse than a better α or α=0`] : []),
    ...(futile ? [`${futile} because ${futile === 1 ? "its" : "their"} gain over α=0 could not reach the decision's level even on every prompt`] : []),
  ];
  return `no α beats α=0: every candidate left the race, ${parts.join(" and ")}`;
}
