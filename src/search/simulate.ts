/**
 * A simulated model family for tests and the benchmark: no weights, no network. The reward
 * of an answer is   base(prompt) + gain(α)·(1 + heterogeneity(prompt)) + noise(α, prompt),
 * with `gain` a one-peak curve shaped like the paper's Figures 6–8 (rises from α = 0, peaks,
 * then collapses as the model breaks), and the answer length grows with α (a reward model
 * that likes length, `lengthBias`, then pays for it too).
 * Everything is a pure function of (seed, α, prompt), so cached and fresh runs agree.
 */
import { alphaKey } from "./cache.js";
import { mulberry32, normalSampler as gaussian } from "../util/random.js";
import type { Generation, Generator, ModelMaterializer, Prompt, Sampling, ScoreItem, Scorer } from "./types.js";

export interface RewardCurve {
  /** α of the peak; 0 or negative gives a flat curve (no gain anywhere). */
  peak: number;
  /** Expected reward gain at the peak over α = 0. */
  height: number;
  /** Collapse past `collapseAt`·peak (default 2.5): reward falls quadratically. */
  collapseAt?: number;
  /**
   * Shape of the rise and fall (r = α/peak):
   * - "parabola" (default): height·r(2 − r), the second-order picture;
   * - "asymmetric": a slow rise and a fast fall, height·r·e^(1 − r)³-like: height·(r·e^(1−r))³;
   * - "plateau": rises to `height` by r = 1, stays flat to r = `collapseAt`, then collapses fast.
   */
  shape?: "parabola" | "asymmetric" | "plateau";
  /** Expected gain at α < 0 per unit of −α (default −2·max(height, 0.5)); positive makes the sanity check fail. */
  interpolationGain?: number;
}

/**
 * Expected gain over α = 0: the paper's second-order picture (§2.2: Ω(θ1 + αΔθ) ≈ Ω(θ1) +
 * α∇Ω·Δθ, plus curvature), i.e. the parabola height·r(2 − r) with r = α/peak — linear rise
 * from α = 0, `height` at the peak, back to 0 at twice the peak — and a steeper collapse
 * past `collapseAt`·peak where the model breaks. Interpolation (α < 0) loses reward.
 */
export function expectedGain(curve: RewardCurve, alpha: number): number {
  const h = curve.height;
  if (alpha < 0) return (curve.interpolationGain ?? -Math.max(Math.abs(h), 0.5) * 2) * Math.min(1, -alpha);
  if (alpha === 0 || curve.peak <= 0 || h === 0) return 0;
  const r = alpha / curve.peak;
  const c = curve.collapseAt ?? 2.5;
  switch (curve.shape ?? "parabola") {
    case "asymmetric":
      // (r·e^(1−r))³: 0 at r = 0, height at r = 1, a slow start and a long tail (real curves are
      // rarely symmetric about the peak), then the same collapse past c.
      return h * (r * Math.exp(1 - r)) ** 3 - (r > c ? h * (r - c) ** 2 : 0);
    case "plateau":
      // Rises like the parabola to the peak, flat until c, then falls to −height within 0.5·peak.
      return r <= 1 ? h * r * (2 - r) : r <= c ? h : h - 2 * h * ((r - c) / 0.5) ** 2;
    default:
      return h * r * (2 - r) - (r > c ? h * (r - c) ** 2 : 0);
  }
}

export interface SimulationOptions {
  curve: RewardCurve;
  seed: number;
  /** SD of the prompt effect shared by every α (default 2). */
  promptSd?: number;
  /** SD of the per-answer sampling noise (default 1.5). */
  noiseSd?: number;
  /** SD of the per-prompt multiplicative spread of the gain (default 0.5). */
  gainSpread?: number;
  /**
   * Answer noise distribution: "normal" (default) or "t3" (Student's t with 3 degrees of
   * freedom, scaled to the same SD: heavy tails, as reward models give a few wild scores).
   */
  noise?: "normal" | "t3";
  /**
   * Correlation of one prompt's answer noise across α (default 0): real runs sample every α
   * with the same seed, so answers at nearby α share much of their text and their score.
   */
  answerCorrelation?: number;
  /** Answer length at α = 0 (tokens) and its growth per unit of ln(1 + α/peak) (default 300, 0.15). */
  baseTokens?: number;
  lengthGrowth?: number;
  /**
   * Reward per unit of ln(tokens / baseTokens): a reward model's taste for length (default 0).
   * Longer answers then score higher whatever their quality, so the raw gain of an α that
   * lengthens answers overstates it; the gain at equal length should not (`lengthEffect`).
   */
  lengthBias?: number;
}

/** Answer length growth factor at α (the expected ratio of tokens to α = 0's). */
function lengthGrowthAt(o: SimulationOptions, alpha: number): number {
  const peak = o.curve.peak > 0 ? o.curve.peak : 1;
  return 1 + (o.lengthGrowth ?? 0.15) * Math.log1p(Math.max(0, alpha) / peak);
}

/**
 * Expected reward from length alone at α over α = 0: lengthBias · ln(growth). A reward model's
 * raw gain is expectedGain + this; the gain at equal length is expectedGain alone.
 */
export function lengthEffect(o: SimulationOptions, alpha: number): number {
  return (o.lengthBias ?? 0) * Math.log(lengthGrowthAt(o, alpha));
}

/** FNV-1a: a fast string hash, enough to seed independent simulated draws. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function draw(seed: number, ...parts: (string | number)[]): () => number {
  const random = mulberry32(fnv1a(`${seed}\u0000${parts.join("\u0000")}`));
  random();
  return gaussian(random);
}

/** The simulated world; `answer` is what a generator would say, `reward` what the scorer gives. */
export class Simulation {
  constructor(readonly options: SimulationOptions) {}

  answer(alpha: number, prompt: string): Generation {
    const o = this.options;
    const z = draw(o.seed, "len", alphaKey(alpha), prompt)();
    const tokens = Math.max(1, Math.round((o.baseTokens ?? 300) * lengthGrowthAt(o, alpha) * Math.exp(0.3 * z)));
    return { text: `α=${alphaKey(alpha)}|${prompt}`, tokens };
  }

  reward(alpha: number, prompt: string): number {
    const o = this.options;
    const p = draw(o.seed, "prompt", prompt);
    const base = (o.promptSd ?? 2) * p();
    const spread = (o.gainSpread ?? 0.5) * p();
    const rho = Math.min(1, Math.max(0, o.answerCorrelation ?? 0));
    const own = this.noiseDraw(draw(o.seed, "noise", alphaKey(alpha), prompt));
    const shared = rho > 0 ? this.noiseDraw(draw(o.seed, "shared-noise", prompt)) : 0;
    const noise = (o.noiseSd ?? 1.5) * (Math.sqrt(rho) * shared + Math.sqrt(1 - rho) * own);
    const length = o.lengthBias ? o.lengthBias * Math.log(this.answer(alpha, prompt).tokens / (o.baseTokens ?? 300)) : 0;
    return base + expectedGain(o.curve, alpha) * (1 + spread) + length + noise;
  }

  /** One unit-variance noise value in the configured distribution. */
  private noiseDraw(normal: () => number): number {
    if (this.options.noise !== "t3") return normal();
    // t(3) = Z / sqrt(χ²(3)/3), variance 3: divide by √3 for unit variance. The sampler makes
    // normals in Box–Muller pairs that share a radius, so Z and the χ² parts come from
    // different pairs (the second of a pair is skipped where it would couple them).
    const z = normal();
    normal();
    const a = normal();
    normal();
    const chi2 = a * a + normal() ** 2 + normal() ** 2;
    return z / Math.sqrt(chi2 / 3) / Math.sqrt(3);
  }
}

/** A generator over the simulation. `failAfter` throws once that many answers were produced (crash tests). */
export class SimulatedGenerator implements Generator {
  readonly id = "simulated";
  calls = 0;
  answers = 0;
  constructor(private readonly sim: Simulation, private readonly options: { failAfter?: number } = {}) {}

  async generate(model: { alpha: number; dir: string }, prompts: string[], sampling: Sampling): Promise<Generation[]> {
    this.calls++;
    const out: Generation[] = [];
    for (const prompt of prompts) {
      if (this.options.failAfter !== undefined && this.answers >= this.options.failAfter) {
        throw new Error(`simulated crash after ${this.answers} answers`);
      }
      const alpha = Number(model.dir.replace(/^sim:/, ""));
      // Answers longer than the limit are cut there, as a server reports it (finish reason "length").
      const answer = this.sim.answer(alpha, prompt);
      const cut = answer.tokens >= sampling.maxTokens;
      out.push({ ...answer, tokens: cut ? sampling.maxTokens : answer.tokens, finishReason: cut ? "length" : "stop" });
      this.answers++;
    }
    return out;
  }
}

/** A scorer over the simulation: reads α back from the simulated answer text. */
export class SimulatedScorer implements Scorer {
  readonly id = "simulated-rm";
  constructor(private readonly sim: Simulation) {}

  async score(items: ScoreItem[]): Promise<number[]> {
    return items.map(({ prompt, response }) => {
      const match = /^α=([^|]+)\|/.exec(response);
      if (!match) throw new Error(`not a simulated answer: ${response.slice(0, 40)}`);
      return this.sim.reward(Number(match[1]), prompt);
    });
  }
}

/** A materializer that writes nothing: the "folder" names α. */
export class SimulatedMaterializer implements ModelMaterializer {
  loads = 0;
  async materialize(alpha: number) {
    this.loads++;
    return { dir: `sim:${alphaKey(alpha)}` };
  }
}

export function simulatedPrompts(n: number, prefix = "prompt"): Prompt[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, text: `${prefix} number ${i}` }));
}
