/**
 * Strategies decide which α to evaluate on how many prompts. They only call
 * `Evaluator.ensure`; statistics and the decision are computed afterwards from what was
 * evaluated (see summary.ts), identically for every strategy.
 */
import { alphaKey } from "./cache.js";
import type { Evaluator } from "./evaluator.js";
import { mean, normalQuantile, pairedZ } from "./stats.js";

/** The paper's grid for public models (§3: α ∈ {0.1, …, 0.5}). */
export const PAPER_GRID: readonly number[] = Object.freeze([0.1, 0.2, 0.3, 0.4, 0.5]);

export interface GridOptions {
  kind: "grid";
  alphas: number[];
}

export interface AutoOptions {
  kind: "auto";
  /** First α of the widening ladder (default 0.1). */
  start?: number;
  /** Widening stops here (default 100). */
  maxAlpha?: number;
  /** Prompts in the first race batch (default max(16, ⌈N/16⌉)); batches grow by `growth` from there. */
  firstBatch?: number;
  /** |z| beyond which a candidate counts as confidently worse than the leader (default 3). */
  dropZ?: number;
  /** Largest prompt batch of the race (default ⌈N/2⌉). */
  racePrompts?: number;
  /** Batch growth per race round (default 4: n1, 4n1, … — as accurate as 2 in the benchmark, with fewer model switches). */
  growth?: number;
  /**
   * After the race, give the pick all N prompts "always", or only "if-needed" (default): when
   * its gain over α = 0 is not yet significant at the decision's level on the race prompts.
   */
  confirm?: "always" | "if-needed";
  /**
   * With weak evidence after the race, give the pick and the leading finalists all N prompts and
   * pick again on them, as the grid would. Off by default: on 700 weak-curve trials it
   * published 3–4 points more (49–50 % vs 46 %) for 14 % more generations there and 3–4 % more
   * on flat curves (docs/search.md).
   */
  weakFallback?: boolean;
  /**
   * When the ladder point above the widening's best is within this paired z of it on the first
   * batch (z > −reachZ), the round value past that point joins the refine field too (default
   * 1.5; 0 turns it off): a noisy first batch can crown the point below a peak that lies past
   * its neighbour (docs/search.md).
   */
  reachZ?: number;
  /**
   * Conditional power below which an α is not given more prompts (default 0.02; 0 turns it
   * off): when, at the gain over α = 0 seen so far, all N prompts would reach the decision's
   * level with less than this probability, a race candidate leaves the race (from its second
   * batch on), and the pick is not confirmed: the search ends with no gain instead of buying
   * answers that would not change that (docs/search.md).
   */
  futility?: number;
  /** Round values added beyond the field's edge when the leader sits there (default 4). */
  maxExtensions?: number;
  /** Family-wise level the final decision uses, so α = 0 is retired only when that test is already won (default 0.05). */
  decisionLevel?: number;
  /**
   * What a model switch (and a first visit's extrapolation) costs, in generations' worth of
   * time (default 0). Dear switches (≥ DEAR_SWITCH = 100) make the race take one step
   * straight to its last batch and the widening stop at the first lower point once a peak is
   * clear: every return to an α is a switch.
   */
  switchCost?: number;
}

export type StrategyOptions = GridOptions | AutoOptions;

/** Finalists (by race mean, plus the pick) that the weak-evidence fallback gives every prompt. */
export const FALLBACK_FIELD = 3;
/** Switch cost (generations' worth of time) from which `auto` plans fewer, larger steps. */
export const DEAR_SWITCH = 100;

export interface DropRecord {
  alpha: number;
  /** Prompts it had when dropped. */
  atPrompts: number;
  /**
   * `bracket`: a widened α left out of the refined field (the edge extension may bring it
   * back); `worse`: confidently worse than the leader; `futile`: its gain over α = 0 out of reach.
   */
  kind: "bracket" | "worse" | "futile";
  reason: string;
}

export interface RoundRecord {
  phase: "widen" | "refine" | "race" | "grid";
  prompts: number;
  alphas: number[];
  leader?: number;
  note?: string;
}

export interface StrategyResult {
  /** Candidates (α > 0 or any α ≠ 0 of a grid) still in the running at the end. */
  finalists: number[];
  dropped: DropRecord[];
  rounds: RoundRecord[];
  /** Prompts α = 0 was evaluated on (it is retired early once decisively beaten). */
  baselinePrompts: number;
  /** The strategy's own pick among the finalists (the decision still requires its gain to be significant). */
  preferred?: number;
  /** Set when the pick was not given the remaining prompts because its gain could not reach the decision's level (`futility`). */
  futile?: { alpha: number; prompts: number; z: number; power: number };
}

export async function runStrategy(ev: Evaluator, options: StrategyOptions): Promise<StrategyResult> {
  return options.kind === "grid" ? grid(ev, options) : auto(ev, options);
}

/** Every α on every prompt: the paper's procedure. */
export async function grid(ev: Evaluator, options: GridOptions): Promise<StrategyResult> {
  const n = ev.promptCount;
  const alphas = [...new Set(options.alphas.map((a) => Number(alphaKey(a))))].filter((a) => a !== 0);
  await ev.ensure(0, n);
  for (const a of alphas) await ev.ensure(a, n);
  return { finalists: alphas, dropped: [], rounds: [{ phase: "grid", prompts: n, alphas: [0, ...alphas] }], baselinePrompts: n };
}

/** 1-2-5 ladder used to widen: …, 0.1, 0.2, 0.5, 1, 2, 5, 10, … */
export function coarseLadder(start: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(start)) - 1; e <= Math.ceil(Math.log10(max)) + 1; e++) {
    for (const m of [1, 2, 5]) {
      const a = Number((m * 10 ** e).toPrecision(6));
      if (a >= start * (1 - 1e-9) && a <= max * (1 + 1e-9)) out.push(a);
    }
  }
  return out;
}

/**
 * Round α values used to refine between two ladder points: 1, 1.5, 2, 3, 5, 7 per decade.
 * Neighbours are close enough that a parabola peaking anywhere between two of them keeps ≥ 93 %
 * of its height at one (the widest gap, 3 → 5, loses 6 %), and no closer: a value the race
 * cannot tell from its neighbours only adds a comparison to the decision's Bonferroni level
 * and a contender that wins on noise (with 4, 400 benchmark trials kept 96.8 % of the best gain
 * on the parabola and 94.2 % on the asymmetric curve, without it 98.2 % and 97.4 %;
 * docs/search.md).
 */
export function fineBetween(lo: number, hi: number): number[] {
  const out: number[] = [];
  const a = Math.min(lo, hi);
  const b = Math.max(lo, hi);
  if (b <= 0) return out;
  const from = Math.floor(Math.log10(Math.max(a, b / 1000))) - 1;
  for (let e = from; e <= Math.ceil(Math.log10(b)); e++) {
    for (const m of [1, 1.5, 2, 3, 5, 7]) {
      const x = Number((m * 10 ** e).toPrecision(6));
      if (x > a * (1 + 1e-9) && x < b * (1 - 1e-9)) out.push(x);
    }
  }
  return out;
}

/**
 * The default search, on a seeded prompt order (docs/search.md has the full description):
 * 1. widen: on the first batch, α = 0 and then 0.1, 0.2, 0.5, 1, 2, 5, … while the reward
 *    rises; stop at a point confidently below the best (z < −dropZ), or after two lower points
 *    (one when switches are dear) once the best is clearly above α = 0 (z > 3);
 * 2. refine: the round values between the best point's ladder neighbours (0.2 | 0.5 → 0.3),
 *    with the best point and its neighbours, and the round value past the upper neighbour when
 *    that neighbour is close to the best (z > −reachZ); when α = 0 led, around the first
 *    ladder α up to the next one;
 * 3. race: grow the prompt batch (×4) each round up to ⌈N/2⌉ for the candidates still running
 *    (and α = 0); drop a candidate once a paired z-test says it is worse than the leader at
 *    z < −dropZ, or (from the second batch) once its own gain over α = 0 is out of reach
 *    (futility); add the next round value when the leader sits at the field's edge (on the
 *    last batch too, unless its gain is out of reach); retire α = 0 once every remaining
 *    candidate beats it at the decision's own level;
 * 4. pick the finalist nearest the vertex of a parabola through the finalists' means, and give
 *    it all N prompts if its gain over α = 0 is not yet clear but still within reach (futility).
 */
export async function auto(ev: Evaluator, options: AutoOptions): Promise<StrategyResult> {
  const N = ev.promptCount;
  const dropZ = options.dropZ ?? 3;
  const switchCost = options.switchCost ?? 0;
  // Dear switches: one race step straight to its last batch (each round revisits every α).
  // At 25 the benchmark showed no gain worth the lost drop rounds, so the plan changes from 100 up.
  const growth = options.growth ?? (switchCost >= DEAR_SWITCH ? Infinity : 4);
  const lowerPointsToStop = switchCost >= DEAR_SWITCH ? 1 : 2;
  const n1 = Math.min(N, Math.max(2, options.firstBatch ?? Math.max(16, Math.ceil(N / 16))));
  const ladder = coarseLadder(options.start ?? 0.1, options.maxAlpha ?? 100);
  const rounds: RoundRecord[] = [];
  const dropped: DropRecord[] = [];
  const avg = (a: number, n: number) => mean(ev.rewards(a, n));

  // Phase 1: widen.
  await ev.ensure(0, n1);
  const widened: number[] = [0];
  let best = 0;
  let lowerRun = 0;
  for (const a of ladder) {
    await ev.ensure(a, n1);
    widened.push(a);
    if (avg(a, n1) > avg(best, n1)) {
      best = a;
      lowerRun = 0;
      continue;
    }
    lowerRun++;
    // Stop at a point confidently below the best, or after two lower points (one when switches
    // are dear) once the best is itself clearly above α = 0 (a peak, not noise on a flat start).
    const z = pairedZ(ev.rewards(a, n1), ev.rewards(best, n1)).z;
    const peakSeen = best !== 0 && pairedZ(ev.rewards(best, n1), ev.rewards(0, n1)).z > 3;
    if (z < -dropZ || (lowerRun >= lowerPointsToStop && peakSeen)) break;
  }
  rounds.push({ phase: "widen", prompts: n1, alphas: [...widened], leader: best });

  // Phase 2: refine: the round values strictly between the best point's two ladder neighbours.
  const i = widened.indexOf(best);
  const left = i > 0 ? widened[i - 1] : undefined;
  const right = i < widened.length - 1 ? widened[i + 1] : undefined;
  let candidates: number[];
  if (best === 0) {
    // Nothing beat θ1 on the first batch: refine around the smallest ladder α as if it had led
    // (its lower neighbours, the values up to the next ladder point, and that point): one
    // unlucky first batch for 0.2 must not leave the race only 0.07 and 0.1 to choose from.
    const first = right ?? ladder[0];
    const next = widened[2];
    candidates = [...fineBetween(first / 2, next ?? first * 2), first, ...(next !== undefined ? [next] : [])];
  } else {
    const lo = left === undefined || left === 0 ? best / 2 : left;
    const hi = right ?? best * 2;
    candidates = [...fineBetween(lo, hi), best, ...[left, right].filter((a): a is number => a !== undefined && a !== 0)];
    // On 47-odd prompts the ladder point below the peak often outscores the one above it by
    // noise (0.1 over 0.2 with the peak at 0.25): the bracket 0.05–0.2 would fence the race off
    // from the peak, and the edge extension below only helps when the *leader* sits at the
    // edge. So when the point above is close to the best, the round value past it joins too.
    const reachZ = options.reachZ ?? 1.5;
    if (right !== undefined && reachZ > 0 && pairedZ(ev.rewards(right, n1), ev.rewards(best, n1)).z > -reachZ) {
      const past = fineBetween(right, right * 10)[0];
      if (past !== undefined && past <= (options.maxAlpha ?? 100) * (1 + 1e-9)) candidates.push(past);
    }
  }
  candidates = [...new Set(candidates)].sort((a, b) => a - b);
  for (const a of widened) {
    if (a !== 0 && !candidates.includes(a)) dropped.push({ alpha: a, atPrompts: n1, kind: "bracket", reason: "outside the refined bracket" });
  }
  for (const a of candidates) await ev.ensure(a, n1);
  rounds.push({ phase: "refine", prompts: n1, alphas: [...candidates] });

  // Phase 3: race on growing batches.
  const k = Math.max(1, widened.length - 1 + candidates.filter((a) => !widened.includes(a)).length);
  // The z the decision's Bonferroni level asks of a gain over α = 0; α = 0 retires at +0.5.
  const decisionZ = normalQuantile(1 - (options.decisionLevel ?? 0.05) / (2 * k));
  const retireZ = decisionZ + 0.5;
  const raceMax = Math.min(N, Math.max(n1, options.racePrompts ?? Math.ceil(N / 2)));
  let alive = [...candidates];
  let baselineActive = true;
  let n = n1;
  let extensions = 0;
  const maxExtensions = options.maxExtensions ?? 4;
  const futility = options.futility ?? 0.02;
  let forward = true;
  for (;;) {
    // Drop the confidently worse, against the leader (α = 0 counts as a possible leader).
    const field = baselineActive ? [0, ...alive] : alive;
    const leader = field.reduce((b, a) => (avg(a, n) > avg(b, n) ? a : b), field[0]);
    alive = alive.filter((a) => {
      if (a === leader) return true;
      const z = pairedZ(ev.rewards(a, n), ev.rewards(leader, n)).z;
      if (z < -dropZ) {
        dropped.push({ alpha: a, atPrompts: n, kind: "worse", reason: `worse than α=${leader} (paired z=${z.toFixed(2)})` });
        return false;
      }
      return true;
    });
    // Futility in the race: from the second batch on, a candidate whose own gain over α = 0
    // could not reach the decision's level even on all N prompts (the pick's futility test
    // below) is dropped: on a flat curve nothing separates the candidates, and without this
    // they all ride to the last batch (600 benchmark trials: flat curves 20 % fewer answers,
    // the weak curve 9 % fewer, as often published). Not on the first batch: on 47-odd prompts it
    // also drops the peak of a clear curve (docs/search.md).
    if (futility > 0 && baselineActive && n > n1) {
      const bar = futileZ(n / N, decisionZ, futility);
      alive = alive.filter((a) => {
        if (a === leader) return true;
        const z = pairedZ(ev.rewards(a, n), ev.rewards(0, n)).z;
        if (z < bar) {
          dropped.push({ alpha: a, atPrompts: n, kind: "futile", reason: `gain over α=0 out of reach (paired z=${z.toFixed(2)})` });
          return false;
        }
        return true;
      });
    }
    // Refine further when the leader sits at the edge of the field: add the next round value
    // beyond it (caught up on the prompts so far), so a noisy first batch cannot fence the
    // race off from the peak. On the last batch, only for a leader whose gain over α = 0 could
    // still be published (not futile, below): on a flat curve a leader sits at an edge by
    // chance, and following it only adds α to the decision's count. An α the race itself
    // dropped (worse, or out of reach) does not come back: the leader's edge is then only
    // the edge of what is left.
    let extended = false;
    const leaderShared = Math.min(ev.count(leader), ev.count(0));
    const worthFollowing =
      n < raceMax || leader === 0 || futility <= 0 || pairedZ(ev.rewards(leader, leaderShared), ev.rewards(0, leaderShared)).z >= futileZ(leaderShared / N, decisionZ, futility);
    if (leader !== 0 && extensions < maxExtensions && worthFollowing) {
      const sorted = [...alive].sort((a, b) => a - b);
      const beyond =
        leader === sorted[sorted.length - 1] ? fineBetween(leader, leader * 10)[0] : leader === sorted[0] ? fineBetween(leader / 10, leader).at(-1) : undefined;
      if (beyond !== undefined && ev.count(beyond) < n && !dropped.some((d) => d.alpha === beyond && d.kind !== "bracket")) {
        const i = dropped.findIndex((d) => d.alpha === beyond);
        if (i >= 0) dropped.splice(i, 1);
        await ev.ensure(beyond, n);
        alive.push(beyond);
        alive.sort((a, b) => a - b);
        extensions++;
        extended = true;
        rounds.push({ phase: "refine", prompts: n, alphas: [beyond], leader, note: `leader α=${leader} at the edge: added α=${beyond}` });
      }
    }
    if (baselineActive && alive.length > 0 && alive.every((a) => pairedZ(ev.rewards(a, n), ev.rewards(0, n)).z > retireZ)) {
      baselineActive = false;
    }
    rounds.push({ phase: "race", prompts: n, alphas: [...(baselineActive ? [0] : []), ...alive], leader });
    // An α added on the last batch races there once more (caught up to it) before the pick:
    // a leader at the edge of the final field is a trend the race had not followed yet.
    if (n >= raceMax && extended) continue;
    if (n >= raceMax || alive.length === 0 || (alive.length === 1 && !baselineActive)) break;
    n = Math.min(raceMax, Math.ceil(growth * n));
    // Snake order: the α evaluated last in a round is first in the next, so it stays loaded.
    const roundAlphas = baselineActive ? [0, ...alive] : alive;
    const order = forward ? roundAlphas : [...roundAlphas].reverse();
    forward = !forward;
    for (const a of order) await ev.ensure(a, n);
  }

  // Pick: the finalist nearest the vertex of a quadratic through the finalists' means (the
  // second-order Taylor model of reward in α, pooled over all finalists), else the best mean.
  let preferred: number | undefined;
  let futile: StrategyResult["futile"];
  if (alive.length > 0) {
    let { pick, how } = pickFinalist(alive, alive.map((a) => avg(a, n)));
    // Confirm on every prompt only when the pick's gain over α = 0 is not yet clear at the
    // decision's level (or when asked to): more answers would not change the pick, only the
    // width of its interval.
    const shared = Math.min(ev.count(pick), ev.count(0));
    const pickZ = pairedZ(ev.rewards(pick, shared), ev.rewards(0, shared)).z;
    const clear = pickZ > retireZ;
    // Weak evidence: a gain at the unadjusted level (one-sided z > 1.645 at 5 %) that the
    // decision's Bonferroni level does not yet grant. Below that (a flat curve, as a rule) more
    // α on every prompt would only add cost.
    const weak = !clear && pickZ > normalQuantile(1 - (options.decisionLevel ?? 0.05));
    // Futility: on all N prompts the pick must reach the decision's level (decisionZ). If,
    // continuing at the gain seen so far, it would get there with probability below `futility`
    // (conditional power under the current trend), the remaining answers are not bought: the
    // search ends with no gain.
    const out = !clear && options.confirm !== "always" && futility > 0 && shared < N && pickZ < futileZ(shared / N, decisionZ, futility);
    if (out) {
      rounds.push({ phase: "race", prompts: shared, alphas: [pick], leader: pick, note: `${how}; gain over α=0 out of reach (z=${pickZ.toFixed(2)} on ${shared} prompts): not confirmed` });
      futile = { alpha: pick, prompts: shared, z: pickZ, power: futility };
    } else if (options.confirm === "always" || !clear) {
      // With `weakFallback` (off by default: 3–4 points more published on weak curves for 14 %
      // more answers there, docs/search.md) and
      // weak evidence, fall back towards the grid: the pick and the best FALLBACK_FIELD
      // finalists by race mean (and α = 0) get every prompt, and the pick is made again on them.
      const byMean = [...alive].sort((a, b) => avg(b, n) - avg(a, n)).slice(0, FALLBACK_FIELD);
      const field = weak && options.weakFallback === true ? [...new Set([pick, ...byMean])].sort((a, b) => a - b) : [pick];
      rounds.push({
        phase: "race",
        prompts: N,
        alphas: baselineActive ? [0, ...field] : field,
        leader: pick,
        note: field.length > 1 ? `${how}; gain over α=0 weak (z=${pickZ.toFixed(2)}): the leading finalists on all prompts` : `${how}; confirming on all prompts`,
      });
      const order = ev.lastAlpha !== undefined && field.includes(ev.lastAlpha) ? [ev.lastAlpha, ...field.filter((a) => a !== ev.lastAlpha)] : field;
      for (const a of order) await ev.ensure(a, N);
      if (baselineActive) await ev.ensure(0, N);
      if (field.length > 1) {
        ({ pick, how } = pickFinalist(field, field.map((a) => avg(a, N))));
        rounds.push({ phase: "race", prompts: N, alphas: [pick], leader: pick, note: `${how} on all prompts` });
      }
    } else {
      rounds.push({ phase: "race", prompts: n, alphas: [pick], leader: pick, note: `${how}; gain over α=0 already clear on ${shared} prompts` });
    }
    preferred = pick;
  }
  return { finalists: alive, dropped, rounds, baselinePrompts: ev.count(0), preferred, ...(futile ? { futile } : {}) };
}

/**
 * The z on a share t of the prompts below which a test on all of them reaches `targetZ` with
 * probability under `power` if the gain stays at its current estimate (conditional power under
 * the current trend: on all prompts z ~ N(z_t/√t, 1 − t)).
 */
export function futileZ(t: number, targetZ: number, power: number): number {
  return Math.sqrt(t) * (targetZ - Math.sqrt(Math.max(0, 1 - t)) * normalQuantile(1 - power));
}

/** The finalist nearest the vertex of a least-squares parabola through their mean rewards, else (fewer than three, or no interior maximum) the best mean. */
export function pickFinalist(alphas: number[], means: number[]): { pick: number; how: string } {
  const vertex = alphas.length >= 3 ? quadraticVertex(alphas, means) : undefined;
  if (vertex === undefined) return { pick: alphas[means.indexOf(Math.max(...means))], how: "best mean" };
  const pick = alphas.reduce((b, a) => (Math.abs(Math.log(a / vertex)) < Math.abs(Math.log(b / vertex)) ? a : b), alphas[0]);
  return { pick, how: `quadratic vertex at α≈${vertex.toPrecision(3)}` };
}

/** Vertex of the least-squares parabola y = c0 + c1·x + c2·x² when it opens downwards and lies within the x range. */
export function quadraticVertex(xs: number[], ys: number[]): number | undefined {
  // Normal equations of the 3-parameter fit, solved by Cramer's rule (xs are few and small).
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = ys[i];
    s0 += 1; s1 += x; s2 += x * x; s3 += x ** 3; s4 += x ** 4;
    t0 += y; t1 += x * y; t2 += x * x * y;
  }
  const det3 = (m: number[][]) =>
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const A = [[s0, s1, s2], [s1, s2, s3], [s2, s3, s4]];
  const d = det3(A);
  if (!(Math.abs(d) > 1e-300)) return undefined;
  const c1 = det3([[s0, t0, s2], [s1, t1, s3], [s2, t2, s4]]) / d;
  const c2 = det3([[s0, s1, t0], [s1, s2, t1], [s2, s3, t2]]) / d;
  if (!(c2 < 0)) return undefined;
  const v = -c1 / (2 * c2);
  return v >= Math.min(...xs) && v <= Math.max(...xs) ? v : undefined;
}
