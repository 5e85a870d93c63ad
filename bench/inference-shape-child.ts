/**
 * One measurement of `bench:inference --shape` in a fresh process (so its peak RSS is its
 * own): load θ1 (or θ1 with θ0 for α in place), greedy-decode at batch 1 and 8, switch α.
 * Prints one JSON line. Run by bench/inference-shape.ts.
 *
 *   tsx bench/inference-shape-child.ts '{"theta1": DIR, "theta0": DIR?, "prompt": [..], "new": 32, "threads": 2, "alphas": [..]}'
 */
import { readFileSync } from "node:fs";
import { CausalLMEngine } from "../src/inference/engine.js";

interface ChildArgs {
  theta1: string;
  theta0?: string;
  prompt: number[];
  new: number;
  threads: number;
  batches: number[];
  alphas?: number[];
  /** Weight-fill helper threads at load (default: the engine's own choice). */
  fillHelpers?: number;
}

/** The kernel's peak resident set of this process (VmHWM), in bytes. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

const args = JSON.parse(process.argv[2]) as ChildArgs;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const t0 = performance.now();
const c0 = cpu();
const engine = await CausalLMEngine.load(args.theta1, { threads: args.threads, ...(args.theta0 ? { extrapolateFrom: args.theta0 } : {}), ...(args.fillHelpers !== undefined ? { fill: { helpers: args.fillHelpers } } : {}) });
const loadS = (performance.now() - t0) / 1000;
const loadCpuS = cpu() - c0;
const afterLoad = peakRss();
const decode: { batch: number; tokS: number; prefillMs: number; tokens: number[] }[] = [];
for (const batch of args.batches) {
  const out = await engine.generateTokenIds(
    Array.from({ length: batch }, () => args.prompt),
    { maxNewTokens: args.new, greedy: true, ignoreEos: true, batchSize: batch },
  );
  const s = engine.lastStats;
  decode.push({ batch, tokS: (s.decodeTokens / s.decodeMs) * 1000, prefillMs: s.prefillMs, tokens: out[0].tokenIds });
}
const switches: { alpha: number; ms: number; cpuS: number; tokens: number[] }[] = [];
for (const alpha of args.alphas ?? []) {
  const c1 = cpu();
  const sw = await engine.setAlpha(alpha);
  const cpuS = cpu() - c1;
  const out = await engine.generateTokenIds([args.prompt], { maxNewTokens: 8, greedy: true, ignoreEos: true, batchSize: 1 });
  switches.push({ alpha, ms: sw?.ms ?? 0, cpuS, tokens: out[0].tokenIds });
}
console.log(JSON.stringify({ loadS, loadCpuS, weightBytes: engine.runner.store.bytes, peakRssAfterLoad: afterLoad, peakRss: peakRss(), decode, switches }));
await engine.close();
