/**
 * Chunk jobs: the executor splits every output tensor into jobs of at most a bounded number
 * of elements, each naming where its inputs are (file path + byte offset) and where its
 * output goes. A job is run either in this thread or in a worker thread (src/expo/worker.ts);
 * both use `runJobSync`, which reads with positional reads into reusable buffers (the bf16
 * kernel's own memory), computes, and writes with a positional write. Nothing in a job
 * grows with the model: memory is the chunk buffers.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import type { FloatDtype, Dtype } from "../safetensors/dtype.js";
import { ChunkWorkspace, emptyStats, extrapolateChunk, type KernelStats } from "./kernel.js";

export interface ByteRange {
  path: string;
  offset: number;
  bytes: number;
}

export interface ChunkJob {
  /** Which output tensor (for statistics and progress). */
  tensor: string;
  out: ByteRange;
  /** raw: copy θ1's bytes; compute: decode, θ1 + α(θ1 − θ0) (or θ1 converted when θ0 is null), encode. */
  mode: "raw" | "compute";
  theta1: ByteRange;
  dtype1: Dtype;
  theta0: ByteRange | null;
  dtype0: Dtype | null;
  outDtype: Dtype;
  alpha: number;
}

/** Keeps files open across jobs (a worker sees many jobs of the same shards). */
export class FdCache {
  private readonly fds = new Map<string, number>();
  get(path: string, flags: "r" | "r+"): number {
    const key = `${flags}:${path}`;
    let fd = this.fds.get(key);
    if (fd === undefined) {
      fd = openSync(path, flags);
      this.fds.set(key, fd);
    }
    return fd;
  }
  /** Closes the descriptors of one path (the executor finishes shards one by one). */
  closePath(path: string): void {
    for (const flags of ["r", "r+"]) {
      const key = `${flags}:${path}`;
      const fd = this.fds.get(key);
      if (fd !== undefined) {
        closeSync(fd);
        this.fds.delete(key);
      }
    }
  }
  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function readFully(fd: number, target: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, target.byteLength - done, position + done);
    if (n === 0) throw new Error(`${path}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, position + done);
}

export class JobRunner {
  readonly ws: ChunkWorkspace;
  readonly fds = new FdCache();
  private raw = new Uint8Array(0);
  private in1 = new Uint8Array(0);
  private in0 = new Uint8Array(0);

  constructor(readonly chunkElements: number) {
    this.ws = new ChunkWorkspace(chunkElements);
  }

  run(job: ChunkJob): KernelStats {
    const stats = emptyStats();
    if (job.mode === "raw") {
      if (this.raw.byteLength < job.theta1.bytes) this.raw = new Uint8Array(job.theta1.bytes);
      const buf = this.raw.subarray(0, job.theta1.bytes);
      readFully(this.fds.get(job.theta1.path, "r"), buf, job.theta1.offset, job.theta1.path);
      writeFully(this.fds.get(job.out.path, "r+"), buf, job.out.offset);
      return stats;
    }
    const dtype1 = job.dtype1 as FloatDtype, outDtype = job.outDtype as FloatDtype;
    const dtype0 = (job.dtype0 ?? job.dtype1) as FloatDtype;
    let a: Uint8Array, b: Uint8Array | null = null;
    const fast = job.theta0 !== null && dtype1 === "BF16" && dtype0 === "BF16" && outDtype === "BF16" && job.theta1.bytes / 2 <= this.ws.capacity;
    if (fast) {
      // Read straight into the kernel's memory: no copies.
      const k = this.ws.kernel();
      a = k.theta1.subarray(0, job.theta1.bytes);
      b = k.theta0.subarray(0, job.theta0!.bytes);
    } else {
      if (this.in1.byteLength < job.theta1.bytes) this.in1 = new Uint8Array(job.theta1.bytes);
      a = this.in1.subarray(0, job.theta1.bytes);
      if (job.theta0) {
        if (this.in0.byteLength < job.theta0.bytes) this.in0 = new Uint8Array(job.theta0.bytes);
        b = this.in0.subarray(0, job.theta0.bytes);
      }
    }
    readFully(this.fds.get(job.theta1.path, "r"), a, job.theta1.offset, job.theta1.path);
    if (b && job.theta0) readFully(this.fds.get(job.theta0.path, "r"), b, job.theta0.offset, job.theta0.path);
    const out = extrapolateChunk(this.ws, a, dtype1, b, dtype0, outDtype, job.alpha, stats);
    if (out.byteLength !== job.out.bytes) throw new Error(`internal: chunk of "${job.tensor}" produced ${out.byteLength} bytes, expected ${job.out.bytes}`);
    writeFully(this.fds.get(job.out.path, "r+"), out, job.out.offset);
    return stats;
  }

  close(): void {
    this.fds.closeAll();
  }
}
