/**
 * `npm run bench:search`: the α search's strategies on simulated reward curves, many seeded
 * trials each, `auto` against a 5-point grid at the same prompt count. The curves are meant
 * to be hard for `auto`, not flattering: not only the parabola it fits, but an asymmetric
 * curve, a plateau that collapses, peaks between its ladder values, a weak signal,
 * heavy-tailed reward noise, answers correlated across α (real runs share the seed) and a
 * reward model that pays for length.
 *
 * Per curve and strategy it prints how often the decision is the true best α (its true gain
 * within 90 % of the curve's best; "no gain" on a flat curve), how often a flat curve gets a
 * false gain, the coverage of the published interval (the held-out gain's 95 % interval
 * contains the chosen α's true gain) beside the coverage the old, same-prompt interval had,
 * the coverage of the published gain at equal length (it should contain the curve's gain
 * without the reward model's pay for length), and the wall time counting a model switch and
 * an extrapolation as L generations' worth of time each (L = 0, 25, 100, 300; "in place": a switch costs about one generation and there
 * is no folder to write, as with the embedded engine switching α in place). `auto` is told
 * the cost (`switchCost`) and plans with it.
 *
 * One more row per curve runs the grid on fewer prompts, at auto's cost in generations: what auto
 * buys over the paper's procedure at equal spend (the targets compare with the full grid).
 *
 *   npm run bench:search -- [--trials 40] [--prompts 1000] [--resamples 500] [--only NAME] [--costs 0,25,100,300] [--seed 1000]
 */
import { parseArgs } from "node:util";
import { runSearch } from "../src/search/search.js";
import { DEAR_SWITCH, PAPER_GRID, type StrategyOptions } from "../src/search/strategies.js";
import {
  Simulation,
  SimulatedGenerator,
  SimulatedMaterializer,
  SimulatedScorer,
  expectedGain,
  lengthEffect,
  simulatedPrompts,
  type RewardCurve,
  type SimulationOptions,
} from "../src/search/simulate.js";

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "40" },
    prompts: { type: "string", default: "1000" },
    resamples: { type: "string", default: "500" },
    only: { type: "string" },
    costs: { type: "string", default: "0,25,100,300" },
    seed: { type: "string", default: "1000" },
  },
});
const trials = Number(values.trials);
const N = Number(values.prompts);
const resamples = Number(values.resamples);
/** Trial i uses seed `--seed` + i: another base gives independent trials to tell a shortfall from noise. */
const baseSeed = Number(values.seed);
for (const [flag, v] of [["--trials", trials], ["--prompts", N], ["--resamples", resamples], ["--seed", baseSeed]] as const) {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${flag}: "${v}" is not a whole number ≥ 0`);
}

interface Scenario {
  name: string;
  curve: RewardCurve;
  sim?: Partial<SimulationOptions>;
  grid: number[];
  gridName: string;
}

// Reward scale as in the paper's Fig. 6 (rewards 3–6, ExPO gains of ~0.2–2): prompt effect
// SD 2, answer noise SD 1.5.
const paper = { grid: [...PAPER_GRID], gridName: "paper 0.1–0.5" };
const scenarios = ([
  { name: "parabola, peak α=0.3 (+0.6)", curve: { peak: 0.3, height: 0.6 }, ...paper },
  { name: "weak: peak α=0.3 (+0.2)", curve: { peak: 0.3, height: 0.2 }, ...paper },
  { name: "between values: peak α=0.25 (+0.6)", curve: { peak: 0.25, height: 0.6 }, ...paper },
  { name: "asymmetric, peak α=0.3 (+0.6)", curve: { peak: 0.3, height: 0.6, shape: "asymmetric" }, ...paper },
  { name: "plateau α=0.2–0.4, then collapse (+0.6)", curve: { peak: 0.2, height: 0.6, shape: "plateau", collapseAt: 2 }, ...paper },
  { name: "heavy tails (t3), peak α=0.3 (+0.6)", curve: { peak: 0.3, height: 0.6 }, sim: { noise: "t3" }, ...paper },
  { name: "correlated ρ=0.7, peak α=0.3 (+0.3)", curve: { peak: 0.3, height: 0.3 }, sim: { answerCorrelation: 0.7 }, ...paper },
  // A reward model that pays 2 per unit of ln(length): +0.2 at α = 0.3 for length alone.
  { name: "length-biased RM, peak α=0.3 (+0.6)", curve: { peak: 0.3, height: 0.6 }, sim: { lengthBias: 2 }, ...paper },
  { name: "under-trained, peak α=13 (+1.5)", curve: { peak: 13, height: 1.5 }, grid: [2.5, 5, 10, 15, 20], gridName: "2.5,5,10,15,20" },
  { name: "flat (no gain)", curve: { peak: 0, height: 0 }, ...paper },
  { name: "flat, heavy tails (t3)", curve: { peak: 0, height: 0 }, sim: { noise: "t3" }, ...paper },
  { name: "flat, correlated ρ=0.7", curve: { peak: 0, height: 0 }, sim: { answerCorrelation: 0.7 }, ...paper },
] as Scenario[]).filter((s) => !values.only || s.name.includes(values.only));

/** Cost settings: generations' worth of time per model switch and per extrapolated folder (`--costs`), and an in-place switch. */
const COSTS = [
  { name: "in place", switch: 1, extrapolation: 0 },
  ...values.costs!.split(",").map((x) => {
    const L = Number(x);
    if (!(Number.isFinite(L) && L >= 0)) throw new Error(`--costs: "${x}" is not a number ≥ 0`);
    return { name: `L=${L}`, switch: L, extrapolation: L };
  }),
];

/**
 * The reward model's expected gain at α: the curve, plus what it pays for length alone when the
 * scenario's reward model likes length (`lengthBias`). The search optimizes this; the gain at
 * equal length is the curve alone.
 */
function rmGain(s: Scenario, alpha: number): number {
  return expectedGain(s.curve, alpha) + lengthEffect({ curve: s.curve, seed: 0, ...s.sim }, alpha);
}

/** The best reward-model gain over α > 0 (a fine log scan, once per scenario), the yardstick for "picks the true best". */
const bestGains = new Map<Scenario, number>();
function bestGain(s: Scenario): number {
  let best = bestGains.get(s);
  if (best === undefined) {
    best = 0;
    for (let e = -2; e <= 2; e += 0.001) best = Math.max(best, rmGain(s, 10 ** e));
    bestGains.set(s, best);
  }
  return best;
}

interface Trial {
  generations: number;
  switches: number;
  /** Extrapolated folders (α = 0 is θ1 itself: no extrapolation). */
  extrapolations: number;
  best: boolean;
  /**
   * The chosen α's true gain as a share of the curve's best (0 when nothing is published): the
   * "picks true best" threshold at 90 % is a knife edge (0.4 is 89 % of a 0.3 peak), this is not.
   */
  gainKept: number;
  published: boolean;
  /** Published interval (held-out) covers the chosen α's true gain. */
  covered: boolean;
  /** The old, same-prompt 95 % interval would have covered it. */
  coveredOld: boolean;
  /** The published gain at equal length covers the curve's gain (length's share taken out). */
  coveredEqualLength: boolean;
  reported: number;
  truth: number;
  /** The published gain at equal length, and the curve's gain it estimates. */
  reportedEqualLength: number;
  truthEqualLength: number;
}

async function trial(s: Scenario, strategy: StrategyOptions, seed: number, prompts = N): Promise<Trial> {
  const sim = new Simulation({ curve: s.curve, seed, ...s.sim });
  const report = await runSearch({
    prompts: simulatedPrompts(prompts, `s${seed}`),
    generator: new SimulatedGenerator(sim),
    scorer: new SimulatedScorer(sim),
    materializer: new SimulatedMaterializer(),
    models: { sft: { path: "sim", revision: "0" }, aligned: { path: "sim", revision: String(seed) } },
    strategy,
    sanityPrompts: 0,
    statistics: { bootstrapResamples: resamples },
    batchSize: 1 << 20,
    keepModels: 1000, // every α folder kept: one extrapolation per α; switches counted apart
  });
  const d = report.decision;
  const flat = bestGain(s) === 0;
  const picked = d.kind === "alpha" ? d.alpha : null;
  const truth = picked === null ? 0 : rmGain(s, picked);
  const truthEqualLength = picked === null ? 0 : expectedGain(s.curve, picked);
  const within = (i: { lo: number | null; hi: number | null } | undefined, t = truth) => i !== undefined && i.lo !== null && i.hi !== null && i.lo <= t && t <= i.hi;
  const reported = d.kind === "alpha" ? d.reported : undefined;
  const old = report.alphas.find((a) => a.alpha === picked)?.vsBaseline?.gain;
  return {
    generations: report.cost.generations,
    switches: report.cost.modelSwitches ?? 0,
    extrapolations: report.alphas.filter((a) => a.alpha !== 0).length,
    best: flat ? picked === null : picked !== null && truth >= 0.9 * bestGain(s),
    gainKept: flat || picked === null ? 0 : truth / bestGain(s),
    published: picked !== null,
    covered: within(reported?.gain),
    coveredOld: within(old),
    coveredEqualLength: within(reported?.lengthControlled, truthEqualLength),
    reportedEqualLength: reported?.lengthControlled.mean ?? 0,
    truthEqualLength,
    reported: reported?.gain.mean ?? 0,
    truth,
  };
}

interface Tally {
  runs: Trial[];
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const avg = (t: Trial[], f: (x: Trial) => number) => sum(t.map(f)) / Math.max(1, t.length);
const wall = (t: Trial, c: (typeof COSTS)[number]) => t.generations + c.switch * t.switches + c.extrapolation * t.extrapolations;
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : "—");
/** Share k/n with its Wilson 95 % interval: with tens of trials a few points either way are noise. */
function wilson(k: number, n: number): { lo: number; hi: number } {
  const z = 1.96, p = k / n, d = 1 + (z * z) / n;
  const mid = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { lo: Math.max(0, mid - half), hi: Math.min(1, mid + half) };
}
function share(k: number, n: number): string {
  if (n === 0) return "—";
  const { lo, hi } = wilson(k, n);
  return `${pct(k / n)} (${(100 * lo).toFixed(0)}–${(100 * hi).toFixed(0)})`;
}
/** Paired difference of two strategies' success on the same seeds, with its normal 95 % interval, in points. */
function pairedDiff(a: boolean[], b: boolean[]): { mean: number; lo: number; hi: number } {
  const d = a.map((x, i) => Number(x) - Number(b[i]));
  const mean = sum(d) / d.length;
  const sd = Math.sqrt(sum(d.map((x) => (x - mean) ** 2)) / Math.max(1, d.length - 1));
  const half = (1.96 * sd) / Math.sqrt(d.length);
  return { mean: 100 * mean, lo: 100 * (mean - half), hi: 100 * (mean + half) };
}

// `auto` plans with the switch cost in tiers (strategies.ts): costs that plan alike share their trials.
const tier = (switchCost: number) => (switchCost >= DEAR_SWITCH ? DEAR_SWITCH : 0);
const autoPlans = [...new Set(COSTS.map((c) => tier(c.switch)))];

const started = Date.now();
const rows: string[][] = [];
const verdicts: string[] = [];
for (const s of scenarios) {
  const flat = bestGain(s) === 0;
  const runs = new Map<string, Tally>();
  const strategies: [string, StrategyOptions][] = [
    [`grid ${s.gridName}`, { kind: "grid", alphas: s.grid }],
    ...autoPlans.map((L): [string, StrategyOptions] => [`auto (switch ${L === 0 ? `<${DEAR_SWITCH}` : `≥${DEAR_SWITCH}`})`, { kind: "auto", switchCost: L }]),
  ];
  for (const [name, strategy] of strategies) {
    const t: Trial[] = [];
    for (let i = 0; i < trials; i++) t.push(await trial(s, strategy, baseSeed + i));
    runs.set(name, { runs: t });
  }
  const grid = runs.get(`grid ${s.gridName}`)!.runs;
  // The grid at auto's cost: the same α on fewer prompts, so that its generations match
  // auto's. The targets compare with the full grid; this row says what auto buys at equal spend.
  const autoRuns = [...runs.values()][1].runs;
  const equalN = Math.max(40, Math.round((N * avg(autoRuns, (x) => x.generations)) / avg(grid, (x) => x.generations)));
  const equal: Trial[] = [];
  for (let i = 0; i < trials; i++) equal.push(await trial(s, { kind: "grid", alphas: s.grid }, baseSeed + i, equalN));
  runs.set(`grid, N=${equalN} (auto's cost)`, { runs: equal });
  for (const [name, { runs: t }] of runs) {
    const pub = t.filter((x) => x.published);
    const plan = name.startsWith("auto") ? autoPlans[[...runs.keys()].indexOf(name) - 1] : undefined;
    const ratios = COSTS.filter((c) => plan === undefined || tier(c.switch) === plan).map((c) => `${c.name}: ${pct(avg(t, (x) => wall(x, c)) / avg(grid, (x) => wall(x, c)))}`);
    rows.push([
      s.name,
      name,
      avg(t, (x) => x.generations).toFixed(0),
      avg(t, (x) => x.extrapolations).toFixed(1),
      avg(t, (x) => x.switches).toFixed(1),
      share(t.filter((x) => x.best).length, t.length),
      flat ? "—" : pct(avg(t, (x) => x.gainKept)),
      flat ? share(pub.length, t.length) : "",
      share(pub.filter((x) => x.covered).length, pub.length),
      pct(avg(pub, (x) => (x.coveredOld ? 1 : 0)) || (pub.length ? 0 : NaN)),
      share(pub.filter((x) => x.coveredEqualLength).length, pub.length),
      pub.length ? `${avg(pub, (x) => x.reported).toFixed(2)} / ${avg(pub, (x) => x.truth).toFixed(2)}; ${avg(pub, (x) => x.reportedEqualLength).toFixed(2)} / ${avg(pub, (x) => x.truthEqualLength).toFixed(2)}` : "—",
      name === `grid ${s.gridName}` ? "100 %" : ratios.join(", "),
    ]);
  }
  // Targets (issues 11 and 15): auto at least as often right as the grid, at ≤ 60 % of its wall time.
  const gridBest = avg(grid, (x) => (x.best ? 1 : 0));
  for (const c of COSTS) {
    const a = [...runs.values()][1 + autoPlans.indexOf(tier(c.switch))].runs;
    const ratio = avg(a, (x) => wall(x, c)) / avg(grid, (x) => wall(x, c));
    const aBest = avg(a, (x) => (x.best ? 1 : 0));
    if (aBest < gridBest || ratio > 0.6) {
      const d = pairedDiff(a.map((x) => x.best), grid.map((x) => x.best));
      const e = pairedDiff(a.map((x) => x.best), equal.map((x) => x.best));
      verdicts.push(
        `  ${s.name}, ${c.name}: auto right ${pct(aBest)} vs grid ${pct(gridBest)} (paired difference ${d.mean.toFixed(0)} points, 95 % CI ${d.lo.toFixed(0)} to ${d.hi.toFixed(0)}; gain kept ${pct(avg(a, (x) => x.gainKept))} vs ${pct(avg(grid, (x) => x.gainKept))}), wall time ${pct(ratio)} of the grid's;` +
          ` the grid at auto's cost is right ${pct(avg(equal, (x) => (x.best ? 1 : 0)))} (auto minus it: ${e.mean.toFixed(0)} points, ${e.lo.toFixed(0)} to ${e.hi.toFixed(0)})`,
      );
    }
  }
  // Targets (issue 15): the published interval covers the truth ≥ 93 % of publishes; flat curves publish ≤ 2.5 %.
  for (const [name, { runs: t }] of runs) {
    const pub = t.filter((x) => x.published);
    const cov = pub.filter((x) => x.covered).length;
    // A share from tens of publishes is ±5–10 points: say whether the nominal 95 % is still
    // inside its interval (a shortfall these trials cannot tell from noise) or not.
    const coverage = (what: string, k: number) => {
      if (!pub.length || k / pub.length >= 0.93) return;
      const inside = wilson(k, pub.length).hi >= 0.95;
      verdicts.push(`  ${s.name}, ${name}: ${what} in ${share(k, pub.length)} of ${pub.length} publishes (target ≥ 93 %; ${inside ? "the nominal 95 % is inside that interval" : "below the nominal 95 % beyond noise"})`);
    };
    coverage("published interval covers the truth", cov);
    coverage("the gain at equal length covers the curve's gain", pub.filter((x) => x.coveredEqualLength).length);
    if (flat && pub.length / t.length > 0.025) verdicts.push(`  ${s.name}, ${name}: false gain in ${share(pub.length, t.length)} of trials (target ≤ 2.5 %)`);
  }
}

const header = ["curve", "strategy", "generations", "extrapolations", "switches", "picks true best", "gain kept", "false gain", "coverage (held-out)", "coverage (old)", "coverage (equal length)", "reported / true gain; at equal length", "wall time vs grid"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log(`α search benchmark: ${trials} seeded trials per row (seeds ${baseSeed}–${baseSeed + trials - 1}), N = ${N} prompts (25 % held out), prompt SD 2, answer noise SD 1.5, bootstrap ${resamples}`);
console.log('"picks true best": the chosen α\'s true gain is ≥ 90 % of the curve\'s best ("no gain" on a flat curve); gain kept: its true gain as a share of the best, averaged over trials (0 when nothing is published); coverage: share of publishes whose 95 % interval contains the true gain; (lo–hi): Wilson 95 % interval of a share');
console.log("wall time: generations + L per model switch + L per extrapolation; auto (switch L) planned knowing L\n");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(verdicts.length ? `\nTargets missed (auto right less often than the grid or over 60 % of its wall time; coverage < 93 %; false gain > 2.5 %):\n${verdicts.join("\n")}` : "\nEvery target met on every curve and cost.");
console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s)`);
