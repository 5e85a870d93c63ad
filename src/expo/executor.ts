/**
 * The streaming executor: runs an ExtrapolationPlan against the two checkpoints and writes
 * the output shards into a folder. Each tensor is cut into chunk jobs of at most
 * `chunkElements` elements (src/expo/jobs.ts); jobs run in worker threads (each reading its
 * inputs and writing its output with positional I/O) or in this thread, with at most two
 * jobs queued per worker, so memory is the chunk buffers whatever the model size.
 *
 * Output shards are created with their header and full length first; jobs then fill in the
 * data at known offsets. The caller writes into a temporary folder and renames it into
 * place (src/util/atomic.ts), so a failed run leaves nothing.
 */
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ModelWeights } from "../checkpoint/weights.js";
import { FileByteSource } from "../safetensors/byte-source.js";
import { DTYPE_BYTES } from "../safetensors/dtype.js";
import { formatShardIndex, INDEX_FILE } from "../safetensors/shard-index.js";
import { startModuleWorker } from "../util/start-worker.js";
import { buildHeader, orderForWriting, type TensorSpec } from "../safetensors/writer.js";
import { addStats, emptyStats, type KernelStats } from "./kernel.js";
import { JobRunner, type ByteRange, type ChunkJob } from "./jobs.js";
import type { ExtrapolationPlan, TensorAction } from "./plan.js";

export interface ExecuteProgress {
  tensorsDone: number;
  tensorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The tensor that just finished, if one did. */
  tensor?: string;
}

export interface ExecuteOptions {
  /** Worker threads; 0 runs in this thread. Default: min(2, CPUs), or 0 for outputs under 64 MB. */
  threads?: number;
  /** Elements per chunk job (default 1 Mi). */
  chunkElements?: number;
  onProgress?: (p: ExecuteProgress) => void;
  /** safetensors `__metadata__` of every output shard (default `{ format: "pt" }`). */
  metadata?: Record<string, string>;
}

export interface TensorResult extends KernelStats {
  name: string;
}

export interface ExecuteResult {
  files: string[];
  /** Input tensor bytes read (θ0 + θ1). */
  bytesRead: number;
  /** Output bytes written (headers included). */
  bytesWritten: number;
  tensors: TensorResult[];
  threads: number;
}

function fileLocation(weights: ModelWeights, name: string): { path: string; offset: number; bytes: number } {
  const { file, info } = weights.get(name);
  if (!(file.source instanceof FileByteSource)) throw new Error(`${weights.name}: the executor reads local files only ("${name}" is in ${file.name})`);
  return { path: file.source.name, offset: file.header.dataStart + info.dataOffsets[0], bytes: info.dataOffsets[1] - info.dataOffsets[0] };
}

/** The chunk jobs of one tensor, written at `outOffset` of `outPath`. */
export function jobsForAction(action: TensorAction, theta0: ModelWeights, theta1: ModelWeights, outPath: string, outOffset: number, chunkElements: number): ChunkJob[] {
  const jobs: ChunkJob[] = [];
  const src1 = fileLocation(theta1, action.theta1.name);
  const size1 = DTYPE_BYTES[action.theta1.dtype];
  const sizeOut = DTYPE_BYTES[action.dtype];
  const total = src1.bytes / size1;
  const slice = (src: ByteRange, size: number, from: number, n: number): ByteRange => ({ path: src.path, offset: src.offset + from * size, bytes: n * size });
  const outRange: ByteRange = { path: outPath, offset: outOffset, bytes: total * sizeOut };
  // Elements [0, shared) are computed from both; [shared, total) are θ1's alone.
  const shared = action.kind === "extrapolate" ? action.sharedElements : 0;
  const src0 = action.kind === "extrapolate" ? fileLocation(theta0, action.theta0.name) : null;
  const size0 = action.kind === "extrapolate" ? DTYPE_BYTES[action.theta0.dtype] : 0;
  const sameDtype = action.theta1.dtype === action.dtype;
  for (let from = 0; from < total; ) {
    const inShared = from < shared;
    const n = Math.min(chunkElements, (inShared ? shared : total) - from);
    const base = { tensor: action.name, out: slice(outRange, sizeOut, from, n), theta1: slice(src1, size1, from, n), dtype1: action.theta1.dtype, outDtype: action.dtype, alpha: action.alpha };
    if (inShared && action.kind === "extrapolate") {
      jobs.push({ ...base, mode: "compute", theta0: slice(src0!, size0, from, n), dtype0: action.theta0.dtype });
    } else {
      jobs.push({ ...base, mode: sameDtype ? "raw" : "compute", theta0: null, dtype0: null });
    }
    from += n;
  }
  return jobs;
}

interface Pool {
  threads: number;
  run(job: ChunkJob): Promise<KernelStats>;
  close(): Promise<void>;
}

function inProcessPool(chunkElements: number): Pool {
  const runner = new JobRunner(chunkElements);
  return {
    threads: 0,
    async run(job) {
      return runner.run(job);
    },
    async close() {
      runner.close();
    },
  };
}

function workerPool(threads: number, chunkElements: number): Pool {
  let nextId = 0;
  const pending = new Map<number, { resolve: (s: KernelStats) => void; reject: (e: Error) => void; worker: number }>();
  const load = new Array<number>(threads).fill(0);
  const waiters: Array<() => void> = [];
  let failure: Error | null = null;
  let closing = false;
  const exited = new Array<boolean>(threads).fill(false);
  const workers = Array.from({ length: threads }, (_, w) => {
    const worker = startModuleWorker(import.meta.url, "worker", { workerData: { chunkElements } });
    worker.on("message", (msg: { type: "done"; id: number; stats: KernelStats } | { type: "error"; id: number; message: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      load[p.worker]--;
      waiters.shift()?.();
      if (msg.type === "done") p.resolve(msg.stats);
      else p.reject(new Error(msg.message));
    });
    const fail = (err: Error) => {
      failure ??= err;
      for (const [id, p] of pending) {
        if (p.worker === w) {
          pending.delete(id);
          p.reject(err);
        }
      }
      while (waiters.length) waiters.shift()!();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      exited[w] = true;
      if (!closing) fail(new Error(`extrapolation worker ${w} exited unexpectedly (code ${code})`));
    });
    return worker;
  });
  return {
    threads,
    async run(job) {
      // At most two jobs queued per worker: bounded memory, and the next job is ready when one ends.
      for (;;) {
        if (failure) throw failure;
        const w = load.indexOf(Math.min(...load));
        if (load[w] < 2) {
          load[w]++;
          const id = nextId++;
          return new Promise<KernelStats>((resolve, reject) => {
            pending.set(id, { resolve, reject, worker: w });
            workers[w].postMessage({ type: "job", id, job });
          });
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    async close() {
      // Ask each worker to close its files and exit cleanly; terminate the ones that do not.
      closing = true;
      await Promise.all(
        workers.map((worker, w) =>
          exited[w]
            ? undefined
            : new Promise<void>((resolve) => {
                const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
                worker.once("exit", () => {
                  clearTimeout(timer);
                  resolve();
                });
                worker.postMessage({ type: "exit" });
              }),
        ),
      );
    },
  };
}

export function defaultThreads(outputBytes: number): number {
  return outputBytes < 64_000_000 ? 0 : Math.max(1, Math.min(2, availableParallelism()));
}

/** Writes the planned shards (and the index when there are several) into `dir`. */
export async function executePlan(plan: ExtrapolationPlan, theta0: ModelWeights, theta1: ModelWeights, dir: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
  const chunkElements = options.chunkElements ?? 1 << 20;
  const threads = options.threads ?? defaultThreads(plan.outputBytes);
  const byName = new Map(plan.actions.map((a) => [a.name, a]));
  const stats = new Map<string, KernelStats>(plan.actions.map((a) => [a.name, emptyStats()]));
  const jobsLeft = new Map<string, number>();
  const files: string[] = [];
  let bytesRead = 0, bytesWritten = 0, bytesDone = 0, tensorsDone = 0;
  const bytesTotal = plan.outputBytes;
  const pool = threads > 0 ? workerPool(threads, chunkElements) : inProcessPool(chunkElements);
  const weightMap: [string, string][] = [];
  try {
    for (const shard of plan.shards) {
      const specs: TensorSpec[] = shard.tensors.map((n) => {
        const a = byName.get(n)!;
        return { name: n, dtype: a.dtype, shape: a.shape };
      });
      const ordered = orderForWriting(specs);
      const header = buildHeader(ordered, options.metadata ?? { format: "pt" });
      const path = join(dir, shard.file);
      const fh = await open(path, "w");
      try {
        await fh.write(header.bytes, 0, header.bytes.byteLength, 0);
        await fh.truncate(header.bytes.byteLength + header.dataBytes);
      } finally {
        await fh.close();
      }
      files.push(shard.file);
      bytesWritten += header.bytes.byteLength + header.dataBytes;
      const running: Promise<void>[] = [];
      let offset = header.bytes.byteLength;
      for (const spec of ordered) {
        const action = byName.get(spec.name)!;
        weightMap.push([spec.name, shard.file]);
        const jobs = jobsForAction(action, theta0, theta1, path, offset, chunkElements);
        offset += jobs.reduce((s, j) => s + j.out.bytes, 0);
        jobsLeft.set(spec.name, jobs.length);
        if (jobs.length === 0) {
          tensorsDone++;
          options.onProgress?.({ tensorsDone, tensorsTotal: plan.actions.length, bytesDone, bytesTotal, tensor: spec.name });
        }
        for (const job of jobs) {
          bytesRead += job.theta1.bytes + (job.theta0?.bytes ?? 0);
          const p = pool.run(job).then((s) => {
            addStats(stats.get(job.tensor)!, s);
            bytesDone += job.out.bytes;
            const left = jobsLeft.get(job.tensor)! - 1;
            jobsLeft.set(job.tensor, left);
            if (left === 0) tensorsDone++;
            options.onProgress?.({ tensorsDone, tensorsTotal: plan.actions.length, bytesDone, bytesTotal, ...(left === 0 ? { tensor: job.tensor } : {}) });
          });
          // Keep the list short: drop settled promises as we go (the pool bounds what is in flight).
          running.push(p);
          p.catch(() => {});
          if (running.length > 64) await Promise.all(running.splice(0, 32));
        }
      }
      await Promise.all(running);
    }
  } finally {
    await pool.close();
  }
  if (plan.shards.length > 1) {
    const text = formatShardIndex(weightMap, plan.outputBytes);
    const fh = await open(join(dir, INDEX_FILE), "w");
    await fh.writeFile(text);
    await fh.close();
    files.push(INDEX_FILE);
    bytesWritten += Buffer.byteLength(text);
  }
  return { files, bytesRead, bytesWritten, threads: pool.threads, tensors: plan.actions.map((a) => ({ name: a.name, ...stats.get(a.name)! })) };
}
