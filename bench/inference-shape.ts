/**
 * `npm run bench:inference -- --shape qwen2-0.5b [--layers N] [--new 32] [--threads 2]`:
 * the embedded engine on a real-shaped checkpoint (random bf16 weights, 2 shards; θ0 and
 * θ1 = θ0 + Δ), each measurement in a fresh process:
 *   - peak RSS (the kernel's VmHWM) over the float32 bytes of the weights held,
 *   - load seconds per GB of safetensors (read + bf16→fp32 + transpose + session),
 *   - greedy decode tokens/s at batch 1 and 8 (KV cache),
 *   - the cost of an α switch in place (θ1 + α(θ1 − θ0) rewritten, same session),
 *   - beside it, the same greedy decode in PyTorch eager float32 (bench/torch_decode.py) when a
 *     python3 with torch is found ($PYTHON, python3, /usr/bin/python3), and whether the
 *     two greedy outputs agree.
 * Also the cost of first-touching fresh memory on this machine (s/GB), which any loader pays
 * for the float32 weights it creates.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { MODEL_SHAPES, shapeParameters, writeShapedPair } from "../src/synthetic/shaped-model.js";

const { values } = parseArgs({
  options: {
    shape: { type: "string" },
    layers: { type: "string" },
    new: { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
    out: { type: "string" },
  },
  allowPositionals: false,
});
const base = MODEL_SHAPES[values.shape ?? ""];
if (!base) {
  console.error(`--shape: expected one of ${Object.keys(MODEL_SHAPES).join(", ")}, got "${values.shape}"`);
  process.exit(2);
}
const layers = values.layers ? Number(values.layers) : base.layers;
if (!Number.isInteger(layers) || layers < 1) {
  console.error(`--layers: expected a positive integer, got "${values.layers}"`);
  process.exit(2);
}
const shape = { ...base, layers };
const newTokens = Number(values.new);
const threads = Number(values.threads);
const root = resolve(values.out ?? join("bench", "out", `shape-${values.shape}-L${layers}`));
const theta0 = join(root, "theta0");
const theta1 = join(root, "theta1");
const GB = 1e9;
const fmt = (v: number, d = 2) => v.toFixed(d);

if (!existsSync(join(theta1, "config.json")) || !existsSync(join(theta0, "config.json"))) {
  const t = performance.now();
  await writeShapedPair({ shape, theta0Dir: theta0, theta1Dir: theta1, shards: 2 });
  console.log(`generated θ0 and θ1 in ${root} (${fmt((performance.now() - t) / 1000, 1)} s)`);
} else console.log(`reusing θ0 and θ1 in ${root}`);
const fileBytes = readdirSync(theta1).filter((f) => f.endsWith(".safetensors")).reduce((s, f) => s + statSync(join(theta1, f)).size, 0);
const params = shapeParameters(shape);
console.log(`shape ${values.shape}: ${layers} layers, hidden ${shape.hidden}, vocab ${shape.vocab}, ${(params / 1e6).toFixed(0)} M parameters, ${fmt(fileBytes / GB)} GB bf16 safetensors, ${fmt((params * 4) / GB)} GB as float32; ${threads} threads`);
console.log(`load average now: ${execFileSync("cat", ["/proc/loadavg"]).toString().trim()} (2 cores shared with other work: figures vary run to run)`);

// Fresh-memory first touch: what creating float32 weights costs here regardless of the loader.
{
  const n = Math.min(params, 250_000_000);
  const t = performance.now();
  new Float32Array(n).fill(1);
  console.log(`first touch of fresh memory on this machine: ${fmt((performance.now() - t) / 1000 / ((n * 4) / GB))} s/GB`);
}

const prompt = Array.from({ length: 16 }, (_, i) => 300 + ((i * 7919) % 50000));
interface ChildResult {
  loadS: number;
  /** CPU seconds (user + system) of the load: close to its wall time on an idle machine. */
  loadCpuS: number;
  weightBytes: number;
  peakRssAfterLoad: number;
  peakRss: number;
  decode: { batch: number; tokS: number; prefillMs: number; tokens: number[] }[];
  switches: { alpha: number; ms: number; cpuS: number; tokens: number[] }[];
}
function child(args: Record<string, unknown>, env: Record<string, string> = {}): ChildResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", join("bench", "inference-shape-child.ts"), JSON.stringify(args)], { encoding: "utf8", maxBuffer: 1 << 24, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`child failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ChildResult;
}

const plain = child({ theta1, prompt, new: newTokens, threads, batches: [1, 8] });
console.log(`\nembedded engine, θ1 alone:`);
console.log(`  load ${fmt(plain.loadS)} s = ${fmt(plain.loadS / (fileBytes / GB))} s per GB of safetensors (CPU time ${fmt(plain.loadCpuS)} s = ${fmt(plain.loadCpuS / (fileBytes / GB))} s/GB)`);
console.log(`  peak RSS ${fmt(plain.peakRss / GB)} GB = ${fmt(plain.peakRss / plain.weightBytes)}× the float32 weights (${fmt(plain.weightBytes / GB)} GB); after load ${fmt(plain.peakRssAfterLoad / GB)} GB`);
// Baseline in the same run: the weights filled on one thread (no helpers).
const oneThread = child({ theta1, prompt, new: 2, threads, batches: [1], fillHelpers: 0 });
console.log(`  baseline, weights filled on one thread: load ${fmt(oneThread.loadS)} s = ${fmt(oneThread.loadS / (fileBytes / GB))} s per GB (CPU time ${fmt(oneThread.loadCpuS)} s); helpers ${fmt(oneThread.loadS / plain.loadS)}× faster`);
for (const d of plain.decode) console.log(`  greedy decode batch ${d.batch}: ${fmt(d.tokS)} tokens/s (prefill of ${prompt.length} tokens × ${d.batch}: ${d.prefillMs.toFixed(0)} ms)`);
if (!process.env.GLIBC_TUNABLES) {
  // Transparent huge pages for malloc'd memory (glibc ≥ 2.35, THP "madvise"): far fewer page faults for the weights.
  const thp = { GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" };
  const huge = child({ theta1, prompt, new: 2, threads, batches: [1] }, thp);
  const hugeOne = child({ theta1, prompt, new: 2, threads, batches: [1], fillHelpers: 0 }, thp);
  console.log(`  with GLIBC_TUNABLES=glibc.malloc.hugetlb=1: load ${fmt(huge.loadS)} s = ${fmt(huge.loadS / (fileBytes / GB))} s per GB (CPU time ${fmt(huge.loadCpuS)} s), peak RSS ${fmt(huge.peakRss / GB)} GB; on one thread ${fmt(hugeOne.loadS)} s = ${fmt(hugeOne.loadS / (fileBytes / GB))} s/GB (helpers ${fmt(hugeOne.loadS / huge.loadS)}× faster)`);
}

const pair = child({ theta1, theta0, prompt, new: 8, threads, batches: [1], alphas: [0.5, 1, 0] });
console.log(`\nembedded engine, θ1 with θ0 (α in place):`);
console.log(`  load ${fmt(pair.loadS)} s; peak RSS ${fmt(pair.peakRss / GB)} GB = ${fmt(pair.peakRss / pair.weightBytes)}× the float32 weights held (one set: θ0 and θ1 are re-read from the files, not held)`);
for (const s of pair.switches) {
  console.log(`  switch to α = ${s.alpha}: ${fmt(s.ms / 1000)} s = ${fmt(s.ms / 1000 / (pair.weightBytes / GB))} s per GB of float32 weights (CPU time ${fmt(s.cpuS)} s = ${fmt(s.cpuS / (pair.weightBytes / GB))} s/GB), same session`);
}
const backToZero = pair.switches.find((s) => s.alpha === 0)!;
console.log(`  after switching back to α = 0, greedy output equals θ1 loaded alone: ${JSON.stringify(backToZero.tokens) === JSON.stringify(plain.decode[0].tokens.slice(0, backToZero.tokens.length))}`);
console.log(`  α = 0.5 and α = 1 give different greedy outputs from α = 0: ${pair.switches.filter((s) => s.alpha !== 0).map((s) => JSON.stringify(s.tokens) !== JSON.stringify(backToZero.tokens)).join(", ")}`);

const python = [process.env.PYTHON, "python3", "/usr/bin/python3"].find((p) => p && spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
if (!python) {
  console.log("\nPyTorch baseline skipped: no python3 with torch found (Debian: apt-get install python3-torch; or set PYTHON)");
} else {
  const version = execFileSync(python, ["-c", "import torch; print(torch.__version__)"]).toString().trim();
  console.log(`\nPyTorch ${version} eager, float32, KV cache (${python}):`);
  for (const batch of [1, 8]) {
    const r = spawnSync(python, [join("bench", "torch_decode.py"), theta1, "--prompt", prompt.join(","), "--new", String(newTokens), "--threads", String(threads), "--batch", String(batch)], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      console.log(`  failed: ${r.stderr.split("\n").slice(-5).join(" ")}`);
      break;
    }
    const t = JSON.parse(r.stdout.trim().split("\n").pop()!) as { load_s: number; load_cpu_s: number; peak_rss_bytes: number; prefill_ms: number; decode_tok_s: number; tokens: number[] };
    const ours = plain.decode.find((d) => d.batch === batch)!;
    const agree = JSON.stringify(t.tokens) === JSON.stringify(ours.tokens);
    console.log(
      `  batch ${batch}: load ${fmt(t.load_s)} s (CPU time ${fmt(t.load_cpu_s)} s), peak RSS ${fmt(t.peak_rss_bytes / GB)} GB, decode ${fmt(t.decode_tok_s)} tokens/s ` +
        `(embedded/PyTorch: ${fmt(ours.tokS / t.decode_tok_s)}×); greedy outputs agree: ${agree}` +
        (agree ? "" : ` (first difference at token ${t.tokens.findIndex((x, i) => x !== ours.tokens[i])})`),
    );
  }
}
