/**
 * The statistics of the α search: means with t intervals, paired bootstrap intervals over
 * prompts (seeded, so a rerun prints the same numbers), win rates, correlation.
 */
import { mulberry32 } from "../util/random.js";

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Sample standard deviation (n − 1). */
export function sd(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < n; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after one Newton step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  return x;
}

/**
 * Quantile of Student's t with `df` degrees of freedom (Cornish–Fisher expansion around the
 * normal quantile; within 1e-3 of the exact value for df ≥ 3, exact limits for df = 1, 2).
 */
export function tQuantile(p: number, df: number): number {
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) {
    const q = 2 * p - 1;
    return q * Math.sqrt(2 / (1 - q * q));
  }
  const z = normalQuantile(p);
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  const z9 = z ** 9;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3) +
    (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df ** 4)
  );
}

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

/** Mean with a two-sided t interval at `level` (default 95 %). */
export function meanCI(xs: ArrayLike<number>, level = 0.95): Interval {
  const m = mean(xs);
  const n = xs.length;
  if (n < 2) return { mean: m, lo: NaN, hi: NaN };
  const half = tQuantile(1 - (1 - level) / 2, n - 1) * (sd(xs) / Math.sqrt(n));
  return { mean: m, lo: m - half, hi: m + half };
}

/**
 * Percentile bootstrap interval of the mean of `xs` (e.g. per-prompt paired differences),
 * resampling prompts with replacement; deterministic for a given `seed`.
 */
export function bootstrapMeanCI(xs: ArrayLike<number>, options: { level?: number; resamples?: number; seed?: number } = {}): Interval {
  const level = options.level ?? 0.95;
  const resamples = options.resamples ?? 2000;
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { mean: m, lo: NaN, hi: NaN };
  const random = mulberry32(options.seed ?? 42);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.floor(random() * n)];
    means[r] = s / n;
  }
  means.sort();
  const alpha = 1 - level;
  return { mean: m, lo: quantileSorted(means, alpha / 2), hi: quantileSorted(means, 1 - alpha / 2) };
}

/** Linear-interpolated quantile (type 7, as R and NumPy default) of a sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Fraction of pairs where `a` beats `b`; ties count one half. */
export function winRate(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`winRate: ${a.length} vs ${b.length} values`);
  if (a.length === 0) return NaN;
  let w = 0;
  for (let i = 0; i < a.length; i++) w += a[i] > b[i] ? 1 : a[i] === b[i] ? 0.5 : 0;
  return w / a.length;
}

/** Pearson correlation; NaN when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`pearson: ${n} vs ${y.length} values`);
  if (n < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** Paired z statistic of mean(a − b) (normal approximation, used inside the race for speed). */
export function pairedZ(a: ArrayLike<number>, b: ArrayLike<number>, n = Math.min(a.length, b.length)): { diff: number; se: number; z: number } {
  if (n < 2) return { diff: NaN, se: NaN, z: NaN };
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] - b[i];
  const diff = s / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (a[i] - b[i] - diff) ** 2;
  const se = Math.sqrt(v / (n - 1) / n);
  return { diff, se, z: se > 0 ? diff / se : diff > 0 ? Infinity : diff < 0 ? -Infinity : 0 };
}

/**
 * Length-controlled gain: the least-squares line d = a + b·x through per-prompt reward
 * differences d against per-prompt log length ratios x = ln(tokens(α) / tokens(0)). The
 * intercept a is the gain at equal length (what is left once the reward model's taste for
 * length, b per unit of log ratio, is taken out), with a t interval at `level` (n − 2 df).
 * With no spread in x, it is the plain mean difference.
 */
export function lengthControlledGain(diffs: ArrayLike<number>, logRatios: ArrayLike<number>, level = 0.95): { gain: Interval; slope: number } {
  const n = diffs.length;
  if (n !== logRatios.length) throw new Error(`lengthControlledGain: ${n} differences vs ${logRatios.length} length ratios`);
  const mx = mean(logRatios);
  const my = mean(diffs);
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (logRatios[i] - mx) ** 2;
    sxy += (logRatios[i] - mx) * (diffs[i] - my);
  }
  if (n < 4 || !(sxx > 1e-12)) return { gain: meanCI(diffs, level), slope: 0 };
  const b = sxy / sxx;
  const a = my - b * mx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (diffs[i] - a - b * logRatios[i]) ** 2;
  const s2 = rss / (n - 2);
  const se = Math.sqrt(s2 * (1 / n + (mx * mx) / sxx));
  const half = tQuantile(1 - (1 - level) / 2, n - 2) * se;
  return { gain: { mean: a, lo: a - half, hi: a + half }, slope: b };
}

/**
 * Yuen's trimmed-mean interval: drop the `trim` share of values at each end, and take the
 * standard error from the winsorized variance (n − 2g − 1 df, g values cut per end). It does
 * not rest on a few extreme values, so heavy-tailed reward noise (one wild score at α = 0
 * shifts every paired difference) cannot make it claim a gain alone.
 */
export function trimmedMeanCI(xs: ArrayLike<number>, level = 0.95, trim = 0.05): Interval {
  const n = xs.length;
  const g = Math.floor(trim * n);
  if (n - 2 * g < 2) return meanCI(xs, level);
  const sorted = Float64Array.from(xs).sort();
  const kept = sorted.subarray(g, n - g);
  const m = mean(kept);
  const lo = sorted[g];
  const hi = sorted[n - g - 1];
  let ss = 0;
  const wm = mean(sorted.map((x) => Math.min(hi, Math.max(lo, x))));
  for (let i = 0; i < n; i++) ss += (Math.min(hi, Math.max(lo, sorted[i])) - wm) ** 2;
  const h = n - 2 * g;
  const se = Math.sqrt(ss / (h * (h - 1)));
  const half = tQuantile(1 - (1 - level) / 2, h - 1) * se;
  return { mean: m, lo: m - half, hi: m + half };
}
