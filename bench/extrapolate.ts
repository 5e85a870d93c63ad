/**
 * `npm run bench:extrapolate [-- --size-gb 2] [--dtype bf16|f32] [--dir /tmp/x] [--keep] [--runs 1]`
 *
 * Generates a bf16 (or f32: checkpoints saved in full precision) θ0/θ1 pair of about SIZE GB
 * per model (several shards; random bytes of realistic weights, written directly, not by the
 * slow generic generator), warms the
 * page cache, then times in the same run:
 *  - the I/O floor: reading both inputs and writing one output of the same size with plain
 *    file reads and writes (8 MB buffers, one thread);
 *  - `expo-bot extrapolate` (the CLI, in a child process, so its peak RSS is its own).
 * Prints seconds, GB/s of input, the ratio to the floor's throughput, and peak RSS; removes
 * the files unless --keep.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readSync, rmSync, statfsSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatShardIndex, INDEX_FILE, shardFileName } from "../src/safetensors/shard-index.js";
import { buildHeader, type TensorSpec } from "../src/safetensors/writer.js";

const { values } = parseArgs({ options: { "size-gb": { type: "string", default: "2" }, dtype: { type: "string", default: "bf16" }, dir: { type: "string" }, keep: { type: "boolean" }, runs: { type: "string", default: "1" }, threads: { type: "string" } } });
if (values.dtype !== "bf16" && values.dtype !== "f32") throw new Error(`--dtype: "${values.dtype}" is not bf16 or f32`);
const f32 = values.dtype === "f32";
const sizeGb = Number(values["size-gb"]);
const root = values.dir ?? join(tmpdir(), `expo-bench-${process.pid}`);
const HIDDEN = 4096;
const ROWS = f32 ? 4096 : 8192; // one tensor = 64 MiB
const tensorBytes = ROWS * HIDDEN * (f32 ? 4 : 2);
const tensorsTotal = Math.max(2, Math.round((sizeGb * 1e9) / tensorBytes));
const perShard = 8; // 512 MiB shards
const shards = Math.ceil(tensorsTotal / perShard);

function free(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** xorshift32 filling bf16 weights ~N(0, 0.02)-like in magnitude; θ1 = θ0 ± a few ulps. */
function fill(theta0: Uint16Array, theta1: Uint16Array, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i < theta0.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const h = (0x3a00 + (x & 0x3ff)) | ((x >>> 16) & 0x8000);
    theta0[i] = h;
    theta1[i] = (h + ((x >>> 20) & 7) - 3) & 0xffff;
  }
}

/** The same in f32: θ0 uniform in ±0.02, θ1 = θ0 + up to ±5e-4. */
function fillF32(theta0: Float32Array, theta1: Float32Array, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i < theta0.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    theta0[i] = ((x & 0xffff) / 65536 - 0.5) * 0.04;
    theta1[i] = theta0[i] + (((x >>> 16) & 0xff) / 256 - 0.5) * 1e-3;
  }
}

function generate(): { bytesPerModel: number } {
  mkdirSync(join(root, "sft"), { recursive: true });
  mkdirSync(join(root, "aligned"), { recursive: true });
  const b0 = f32 ? new Float32Array(tensorBytes / 4) : new Uint16Array(tensorBytes / 2);
  const b1 = f32 ? new Float32Array(tensorBytes / 4) : new Uint16Array(tensorBytes / 2);
  const weightMap: [string, string][] = [];
  let t = 0;
  for (let s = 0; s < shards; s++) {
    const specs: TensorSpec[] = [];
    for (let k = 0; k < perShard && t + k < tensorsTotal; k++) specs.push({ name: `model.layers.${t + k}.mlp.up_proj.weight`, dtype: f32 ? "F32" : "BF16", shape: [ROWS, HIDDEN] });
    const header = buildHeader(specs, { format: "pt" });
    const file = shardFileName(s, shards);
    const fds = [openSync(join(root, "sft", file), "w"), openSync(join(root, "aligned", file), "w")];
    for (const fd of fds) writeSync(fd, header.bytes);
    for (const spec of specs) {
      if (b0 instanceof Float32Array) fillF32(b0, b1 as Float32Array, 0x9e3779b1 ^ (t * 7919));
      else fill(b0, b1 as Uint16Array, 0x9e3779b1 ^ (t * 7919));
      writeSync(fds[0], new Uint8Array(b0.buffer));
      writeSync(fds[1], new Uint8Array(b1.buffer));
      weightMap.push([spec.name, file]);
      t++;
    }
    fds.forEach(closeSync);
  }
  for (const m of ["sft", "aligned"]) {
    writeFileSync(join(root, m, INDEX_FILE), formatShardIndex(weightMap, tensorsTotal * tensorBytes));
    writeFileSync(join(root, m, "config.json"), JSON.stringify({ architectures: ["LlamaForCausalLM"], model_type: "llama", torch_dtype: f32 ? "float32" : "bfloat16", _synthetic: true }) + "\n");
  }
  return { bytesPerModel: tensorsTotal * tensorBytes };
}

function readAll(path: string, buf: Uint8Array): number {
  const fd = openSync(path, "r");
  let total = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.byteLength, null);
    if (n === 0) break;
    total += n;
  }
  closeSync(fd);
  return total;
}

/** The floor: read θ0 and θ1, write one output, shard by shard, plain 8 MB reads and writes. */
function floor(): number {
  const out = join(root, "floor");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const a = new Uint8Array(8 << 20), b = new Uint8Array(8 << 20);
  const t0 = performance.now();
  for (let s = 0; s < shards; s++) {
    const file = shardFileName(s, shards);
    const f0 = openSync(join(root, "sft", file), "r"), f1 = openSync(join(root, "aligned", file), "r"), fo = openSync(join(out, file), "w");
    for (;;) {
      const n1 = readSync(f1, a, 0, a.byteLength, null);
      readSync(f0, b, 0, b.byteLength, null);
      if (n1 === 0) break;
      writeSync(fo, a, 0, n1);
    }
    [f0, f1, fo].forEach(closeSync);
  }
  const seconds = (performance.now() - t0) / 1000;
  rmSync(out, { recursive: true, force: true });
  return seconds;
}

function extrapolateRun(): { seconds: number; wall: number; peakRssBytes: number; threads: number } {
  const out = join(root, "out");
  const args = ["bin/expo-bot.js", "extrapolate", "--sft", join(root, "sft"), "--aligned", join(root, "aligned"), "--alpha", "0.3", "--out", out, "--overwrite", "--json", "--quiet",
    // The bench's folders hold raw tensors, not a model with a config: the pair check has nothing to judge.
    "--ignore-check"];
  if (values.threads) args.push("--threads", values.threads);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`extrapolate failed (${r.status}): ${r.stderr}`);
  const report = JSON.parse(r.stdout);
  rmSync(out, { recursive: true, force: true });
  return { seconds: report.seconds, wall, peakRssBytes: report.peakRssBytes, threads: report.threads };
}

const need = sizeGb * 1e9 * 3.2;
mkdirSync(root, { recursive: true });
if (free(root) < need) throw new Error(`${root}: ${(free(root) / 1e9).toFixed(1)} GB free, the benchmark needs about ${(need / 1e9).toFixed(1)} GB`);
try {
  const g0 = performance.now();
  const { bytesPerModel } = generate();
  console.log(`generated 2 × ${(bytesPerModel / 1e9).toFixed(2)} GB ${values.dtype} (${tensorsTotal} tensors, ${shards} shards each) in ${((performance.now() - g0) / 1000).toFixed(1)} s under ${root}`);
  // Warm the page cache.
  const buf = new Uint8Array(8 << 20);
  for (let s = 0; s < shards; s++) for (const m of ["sft", "aligned"]) readAll(join(root, m, shardFileName(s, shards)), buf);
  const inputGb = (2 * bytesPerModel) / 1e9;
  for (let run = 1; run <= Number(values.runs); run++) {
    const f = floor();
    const e = extrapolateRun();
    const line = {
      run,
      inputGB: Number(inputGb.toFixed(2)),
      floorSeconds: Number(f.toFixed(2)),
      floorGBps: Number((inputGb / f).toFixed(2)),
      extrapolateSeconds: Number(e.seconds.toFixed(2)),
      processWallSeconds: Number(e.wall.toFixed(2)),
      extrapolateGBps: Number((inputGb / e.seconds).toFixed(2)),
      ratioToFloor: Number((f / e.seconds).toFixed(2)),
      peakRssMB: Number((e.peakRssBytes / 1e6).toFixed(0)),
      threads: e.threads,
    };
    console.log(JSON.stringify(line));
  }
} finally {
  if (!values.keep) rmSync(root, { recursive: true, force: true });
}
