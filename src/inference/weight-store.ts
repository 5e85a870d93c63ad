/**
 * The float32 weights a built graph takes as inputs (graph.ts `WeightSlot`), one
 * Float32Array per slot, filled from safetensors files in bounded chunks:
 *
 * - plain:  w = θ (decoded exactly from F32 / BF16 / F16; F64 rounded once);
 * - α pair: w = θ1 + α(θ1 − θ0), each value computed in double precision from θ1's and θ0's
 *   stored values and rounded once to float32 — src/expo/kernel.ts's definition with a float32
 *   output. Vocabulary rows θ1 appended beyond θ0's are θ1's (Δ = 0 there), as src/expo does.
 * - α pair whose θ1 is a LoRA adapter on θ0 (`AlphaPair.lora`): an adapted weight is
 *   w = θ0 + (1 + α)·s·B·A, in double precision (src/checkpoint/lora-update.ts, the numerics
 *   of `extrapolate --merge`) and rounded once to float32; the adapter's full tensors
 *   (`modules_to_save`) are θ1 in the rule above; every other weight is θ0's, which no α
 *   changes, so a refill skips it.
 *
 * `fill` rewrites the same arrays in place, so the session that was created over them serves
 * the new α at once (onnxruntime-node passes CPU inputs to the kernels without copying). Tensors keep their stored layout: no transposing.
 * Nothing that grows with the model is allocated besides the arrays: bytes are read a few
 * MiB at a time (the next chunk is read while the current one is converted).
 */
import { availableParallelism } from "node:os";
import type { LoraModule } from "../checkpoint/adapter.js";
import { loraFactors, loraRows } from "../checkpoint/lora-update.js";
import type { ModelWeights, WeightLocation } from "../checkpoint/weights.js";
import { decodeFloatsInto } from "../safetensors/codec.js";
import { FileByteSource, type ByteSource } from "../safetensors/byte-source.js";
import type { FloatDtype } from "../safetensors/dtype.js";
import type { TensorInfo } from "../safetensors/header.js";
import { UserError } from "../util/errors.js";
import { startModuleWorker } from "../util/start-worker.js";
import { Bf16ToF32Kernel } from "./f32-kernel.js";
import type { WeightSlot } from "./graph.js";

const DTYPE_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2, F64: 8 };
/** Target bytes of θ1 read per chunk. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Values per chunk of the bf16 kernel: its 1 MiB float32 output is copied into the weight while still in cache (measured: 256 Ki values used 10–30 % less CPU per switch than 1 Mi or 4 Mi). */
const KERNEL_VALUES = 1 << 18;

/** Below this many float32 bytes a load fills on one thread (a helper costs ~0.1–1 s to start). */
const PARALLEL_MIN_BYTES = 256 * 1024 * 1024;

/** What a fill reads of a tensor: where its bytes are, its dtype and shape (a `WeightLocation` is one). */
export interface TensorBytes {
  file: { source: ByteSource; header: { dataStart: number } };
  info: Pick<TensorInfo, "dtype" | "shape" | "dataOffsets">;
}

/** A tensor's bytes in a local file, as sent to a fill helper thread. */
interface FileTensor {
  path: string;
  dataStart: number;
  info: Pick<TensorInfo, "dtype" | "shape" | "dataOffsets">;
}

/** One weight for a fill helper: θ1's tensor, θ0's when extrapolating, the values to fill. */
export interface FillJob {
  input: string;
  values: number;
  theta1: FileTensor;
  theta0: FileTensor | null;
  alpha: number;
}

export interface LoadOptions {
  /** Helper threads that fill part of the weights at load (default: min(CPUs, 4) − 1). */
  helpers?: number;
  /** Fill on one thread below this many float32 bytes (default 256 MiB). */
  parallelMinBytes?: number;
}

export interface AlphaPair {
  /** θ0, the SFT checkpoint (same architecture and tensor names as θ1). */
  theta0: ModelWeights;
  alpha: number;
  /** θ1 is this LoRA adapter on θ0 (θ1's weights then are θ0's, its full tensors aside). */
  lora?: LoraUpdate;
}

export interface LoraUpdate {
  /** The adapter's tensors (lora_A, lora_B by their PEFT keys). */
  adapter: ModelWeights;
  /** The adapted modules, by θ0's tensor they add to (`<module>.weight`); each fits θ0. */
  modules: ReadonlyMap<string, LoraModule>;
}

export class WeightStore {
  /** Slots holding a tensor that no α changes (θ1's is θ0's), by the location they were filled from. */
  private readonly constant = new Map<string, WeightLocation>();

  private constructor(
    readonly slots: WeightSlot[],
    /** By slot input name. */
    readonly arrays: Map<string, Float32Array>,
  ) {}

  static allocate(slots: WeightSlot[]): WeightStore {
    const arrays = new Map<string, Float32Array>();
    for (const s of slots) arrays.set(s.input, new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
    return new WeightStore(slots, arrays);
  }

  /**
   * Allocates and fills the weights, spreading the work over helper threads for a large model:
   * first-touching fresh float32 memory is most of a load's cost, and page faults on two
   * threads cost about 1/1.5 of one (docs/inference.md). Each helper fills arrays of its own
   * and transfers their buffers back (no copy); onnxruntime-node takes no SharedArrayBuffer
   * input. A LoRA pair, or weights not in local files, fill on this thread.
   */
  static async load(slots: WeightSlot[], theta1: ModelWeights, pair?: AlphaPair, options: LoadOptions = {}): Promise<WeightStore> {
    const helpers = Math.max(0, Math.floor(options.helpers ?? Math.min(availableParallelism(), 4) - 1));
    const values = (slot: WeightSlot) => slot.dims.reduce((a, b) => a * b, 1);
    const total = slots.reduce((n, slot) => n + 4 * values(slot), 0);
    const local = (loc: WeightLocation) => loc.file.source instanceof FileByteSource;
    const parallel =
      helpers > 0 &&
      !pair?.lora &&
      total >= (options.parallelMinBytes ?? PARALLEL_MIN_BYTES) &&
      slots.every((slot) => local(theta1.get(slot.tensor)) && (!pair || !pair.theta0.has(slot.tensor) || local(pair.theta0.get(slot.tensor))));
    if (!parallel) {
      const store = WeightStore.allocate(slots);
      await store.fill(theta1, pair);
      return store;
    }
    if (pair) WeightStore.checkAlphaPair(slots, theta1, pair);
    // Largest first, each to the least-loaded thread (group 0 is this thread).
    const groups: WeightSlot[][] = Array.from({ length: helpers + 1 }, () => []);
    const load = new Array<number>(helpers + 1).fill(0);
    for (const slot of [...slots].sort((a, b) => values(b) - values(a))) {
      const g = load.indexOf(Math.min(...load));
      groups[g].push(slot);
      load[g] += values(slot);
    }
    const fileTensor = (loc: WeightLocation): FileTensor => ({ path: (loc.file.source as FileByteSource).name, dataStart: loc.file.header.dataStart, info: loc.info });
    const jobsOf = (group: WeightSlot[]): FillJob[] =>
      group.map((slot) => ({ input: slot.input, values: values(slot), theta1: fileTensor(theta1.get(slot.tensor)), theta0: pair ? fileTensor(pair.theta0.get(slot.tensor)) : null, alpha: pair?.alpha ?? 0 }));
    const remote = groups.slice(1).filter((g) => g.length > 0).map((g) => fillInHelper(jobsOf(g)));
    const arrays = new Map<string, Float32Array>();
    const scratch = new Scratch();
    try {
      for (const slot of groups[0]) {
        const dst = new Float32Array(values(slot));
        const loc1 = theta1.get(slot.tensor);
        await fillOne(dst, loc1, pair ? { loc: pair.theta0.get(slot.tensor), alpha: pair.alpha } : null, scratch);
        arrays.set(slot.input, dst);
      }
    } finally {
      // Every helper is awaited (its error, if any, reported) before this returns or throws.
      const results = await Promise.allSettled(remote);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      for (const r of results) if (r.status === "fulfilled") for (const [input, a] of r.value) arrays.set(input, a);
    }
    return new WeightStore(slots, new Map(slots.map((slot) => [slot.input, arrays.get(slot.input)!])));
  }

  /** Bytes held (float32). */
  get bytes(): number {
    let n = 0;
    for (const a of this.arrays.values()) n += a.byteLength;
    return n;
  }

  /** A finite α, θ0 pairing with θ1 for every slot, and (LoRA) every adapted module served by a slot. */
  private static checkAlphaPair(slots: WeightSlot[], theta1: ModelWeights, pair: AlphaPair): void {
    if (!Number.isFinite(pair.alpha)) throw new UserError(`alpha must be a finite number, got ${pair.alpha}`);
    WeightStore.checkPair(slots, theta1, pair.theta0);
    if (pair.lora) {
      // An update with no slot would be silently dropped: the model served would not be θ1.
      const slotted = new Set(slots.map((s) => s.tensor));
      const unused = [...pair.lora.modules.values()].filter((m) => !slotted.has(m.baseTensor)).map((m) => m.module);
      if (unused.length) throw new UserError(`${pair.lora.adapter.name}: the model's graph has no weight for the adapted module(s) ${unused.slice(0, 5).map((m) => `"${m}"`).join(", ")}; cannot serve this adapter in place`);
    }
  }

  /** Checks, before anything is read, that θ0 can pair with θ1 for every slot. */
  static checkPair(slots: WeightSlot[], theta1: ModelWeights, theta0: ModelWeights): void {
    for (const slot of slots) {
      if (!theta0.has(slot.tensor)) throw new UserError(`${theta0.name}: no tensor "${slot.tensor}" (θ1 ${theta1.name} has it); cannot extrapolate in place`);
      const s1 = theta1.get(slot.tensor).info.shape;
      const s0 = theta0.get(slot.tensor).info.shape;
      if (DTYPE_BYTES[theta0.get(slot.tensor).info.dtype] === undefined) {
        throw new UserError(`${theta0.name}: tensor "${slot.tensor}" is ${theta0.get(slot.tensor).info.dtype}, not a float tensor`);
      }
      const sameTail = s0.length === s1.length && s0.slice(1).every((d, i) => d === s1[i + 1]);
      const grown = slot.tensor.endsWith("embed_tokens.weight") || slot.tensor === "lm_head.weight";
      if (!sameTail || s0[0] > s1[0] || (s0[0] !== s1[0] && !grown)) {
        throw new UserError(`"${slot.tensor}": θ0 ${theta0.name} has shape [${s0.join(", ")}], θ1 ${theta1.name} has [${s1.join(", ")}]`);
      }
    }
  }

  /**
   * Fills every array from θ1 alone, or θ1 + α(θ1 − θ0); with `pair.lora`, adapted weights as
   * θ0 + (1 + α)·s·B·A. A slot already filled from a tensor no α changes is not read again.
   */
  async fill(theta1: ModelWeights, pair?: AlphaPair): Promise<void> {
    if (pair) WeightStore.checkAlphaPair(this.slots, theta1, pair);
    const scratch = new Scratch();
    for (const slot of this.slots) {
      const dst = this.arrays.get(slot.input)!;
      const module = pair?.lora?.modules.get(slot.tensor);
      if (module) {
        this.constant.delete(slot.input);
        await fillLoraSlot(dst, pair!.theta0.get(slot.tensor), module, pair!.lora!.adapter, (1 + pair!.alpha) * module.scale, scratch);
        continue;
      }
      const loc1 = theta1.get(slot.tensor);
      const same = pair !== undefined && pair.theta0.get(slot.tensor) === loc1;
      if (same && this.constant.get(slot.input) === loc1) continue;
      await fillOne(dst, loc1, pair && !same ? { loc: pair.theta0.get(slot.tensor), alpha: pair.alpha } : null, scratch);
      if (same) this.constant.set(slot.input, loc1);
      else this.constant.delete(slot.input);
    }
  }
}

interface ChunkRead {
  rows: number;
  theta1: Uint8Array;
  theta0: Uint8Array | null;
}

/** Reusable read buffers (grown on demand), shared by the slots of one fill. */
class Scratch {
  private readonly buffers: Uint8Array[] = [];
  private decoded = new Float32Array(0);
  private f32Kernel: Bf16ToF32Kernel | null = null;
  /** The bf16 kernel, for chunks of at least `values` values. */
  kernel(values: number): Bf16ToF32Kernel {
    if (!this.f32Kernel || this.f32Kernel.capacity < values) this.f32Kernel = new Bf16ToF32Kernel(Math.max(values, KERNEL_VALUES));
    return this.f32Kernel;
  }
  bytes(i: number, n: number): Uint8Array {
    if (!this.buffers[i] || this.buffers[i].byteLength < n) this.buffers[i] = new Uint8Array(n);
    return this.buffers[i];
  }
  private readonly wide: Float64Array[] = [];
  /** Double-precision work arrays (the LoRA update), grown on demand. */
  doubles(i: number, n: number): Float64Array {
    if (!this.wide[i] || this.wide[i].length < n) this.wide[i] = new Float64Array(n);
    return this.wide[i];
  }
  /** θ0's decoded chunk. */
  floats(n: number): Float32Array {
    if (this.decoded.length < n) this.decoded = new Float32Array(n);
    return this.decoded.subarray(0, n);
  }
}

/** One weight: θ1 alone, or θ1 + α(θ1 − θ0); bf16 (with bf16 θ0) through the SIMD kernel. */
async function fillOne(dst: Float32Array, loc1: TensorBytes, pair: { loc: TensorBytes; alpha: number } | null, scratch: Scratch): Promise<void> {
  const bf16 = loc1.info.dtype === "BF16" && (!pair || pair.loc.info.dtype === "BF16");
  await (bf16 ? fillSlotBf16 : fillSlot)(dst, loc1, pair, scratch);
}

/** A helper thread's part of a load (fill-worker.ts): each weight allocated here and filled from its files. */
export async function runFillJobs(jobs: FillJob[]): Promise<[string, Float32Array][]> {
  const sources = new Map<string, FileByteSource>();
  const at = (t: FileTensor): TensorBytes => {
    if (!sources.has(t.path)) sources.set(t.path, new FileByteSource(t.path));
    return { file: { source: sources.get(t.path)!, header: { dataStart: t.dataStart } }, info: t.info };
  };
  const scratch = new Scratch();
  const out: [string, Float32Array][] = [];
  try {
    for (const job of jobs) {
      const dst = new Float32Array(job.values);
      await fillOne(dst, at(job.theta1), job.theta0 ? { loc: at(job.theta0), alpha: job.alpha } : null, scratch);
      out.push([job.input, dst]);
    }
  } finally {
    await Promise.all([...sources.values()].map((s) => s.close()));
  }
  return out;
}

/** Runs `jobs` on a fill helper thread; resolves to the filled arrays, their buffers moved here. */
function fillInHelper(jobs: FillJob[]): Promise<Map<string, Float32Array>> {
  const worker = startModuleWorker(import.meta.url, "fill-worker", { workerData: { jobs } });
  return new Promise<Map<string, Float32Array>>((resolve, reject) => {
    let settled = false;
    worker.once("message", (msg: { ok: true; arrays: [string, Float32Array][] } | { ok: false; message: string; user: boolean }) => {
      settled = true;
      if (msg.ok) resolve(new Map(msg.arrays));
      else reject(msg.user ? new UserError(msg.message) : new Error(msg.message));
      void worker.terminate();
    });
    worker.once("error", (err) => {
      if (!settled) (settled = true), reject(err);
    });
    worker.once("exit", (code) => {
      if (!settled) (settled = true), reject(new Error(`weight fill helper exited with code ${code} before reporting`));
    });
  });
}

/**
 * Bytes [begin, begin + length) of a tensor's data, into `buffer` when the source can fill one.
 * By location, not name: an adapter's full tensor stands for θ0's name under its PEFT key.
 */
async function readRange(loc: TensorBytes, begin: number, length: number, buffer: Uint8Array): Promise<Uint8Array> {
  const source = loc.file.source as ByteSource & { readInto?: (target: Uint8Array, offset: number) => Promise<Uint8Array> };
  const offset = loc.file.header.dataStart + loc.info.dataOffsets[0] + begin;
  if (!source.readInto) return source.read(offset, length);
  return source.readInto(buffer.subarray(0, length), offset);
}

/** A tensor as rows (its first dimension) of `cols` values: the unit chunks are read in. */
function rowsAndCols(loc: TensorBytes): { rows: number; cols: number } {
  const shape = loc.info.shape;
  return { rows: shape[0] ?? 1, cols: shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1 };
}

async function fillSlot(
  dst: Float32Array,
  loc1: TensorBytes,
  pair: { loc: TensorBytes; alpha: number } | null,
  scratch: Scratch,
): Promise<void> {
  const { rows, cols } = rowsAndCols(loc1);
  const dtype1 = loc1.info.dtype as FloatDtype;
  const size1 = DTYPE_BYTES[dtype1];
  const rows0 = pair ? (pair.loc.info.shape[0] ?? 1) : 0;
  const dtype0 = pair ? (pair.loc.info.dtype as FloatDtype) : null;
  const size0 = dtype0 ? DTYPE_BYTES[dtype0] : 0;
  const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (cols * size1)));
  const a0 = pair ? scratch.floats(Math.min(rows, chunkRows) * cols) : null;

  // Two buffers per file, used in turn: one being converted, one being read into.
  // (A fresh 4 MiB buffer per read costs more than the read: 0.4 GB/s against 10 GB/s.)
  const buffers1 = [scratch.bytes(0, chunkRows * cols * size1), scratch.bytes(1, chunkRows * cols * size1)];
  const buffers0 = pair ? [scratch.bytes(2, chunkRows * cols * size0), scratch.bytes(3, chunkRows * cols * size0)] : [];
  let turn = 0;
  const read = async (r0: number): Promise<ChunkRead> => {
    const n = Math.min(chunkRows, rows - r0);
    const n0 = pair ? Math.max(0, Math.min(n, rows0 - r0)) : 0;
    const t = turn++ % 2;
    const [theta1, theta0] = await Promise.all([
      readRange(loc1, r0 * cols * size1, n * cols * size1, buffers1[t]),
      n0 > 0 ? readRange(pair!.loc, r0 * cols * size0, n0 * cols * size0, buffers0[t]) : Promise.resolve(null),
    ]);
    return { rows: n, theta1, theta0 };
  };

  let next: Promise<ChunkRead> | null = read(0);
  for (let r0 = 0; r0 < rows; ) {
    const chunk: ChunkRead = await next!;
    const r1 = r0 + chunk.rows;
    next = r1 < rows ? read(r1) : null; // read ahead while this chunk is converted
    // Decoded straight into its place in the weight; θ0's rows (all, unless θ1 grew the vocabulary) combined there.
    const out = dst.subarray(r0 * cols, r1 * cols);
    decodeInto(dtype1, chunk.theta1, out);
    if (chunk.theta0 && a0) {
      decodeInto(dtype0!, chunk.theta0, a0);
      combine(out, a0, pair!.alpha, chunk.theta0.byteLength / size0);
    }
    r0 = r1;
  }
}

/**
 * θ0 + f·Σ_k B[i,k]·A[k,j] (f = (1 + α)·s) row block by row block: θ0 decoded to double, the
 * product summed in double (k ascending), the sum rounded once on the store into float32 —
 * value for value what `extrapolate --merge --dtype f32` writes.
 */
async function fillLoraSlot(dst: Float32Array, loc0: WeightLocation, m: LoraModule, adapter: ModelWeights, f: number, scratch: Scratch): Promise<void> {
  const { a, b } = await loraFactors(adapter, m);
  const dtype0 = loc0.info.dtype as FloatDtype;
  const rowBytes = m.inFeatures * DTYPE_BYTES[dtype0];
  // Rows per block: the two float64 work arrays stay near CHUNK_BYTES each.
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (8 * m.inFeatures)));
  const w = scratch.doubles(0, rowsPerChunk * m.inFeatures);
  const d = scratch.doubles(1, rowsPerChunk * m.inFeatures);
  for (let row = 0; row < m.outFeatures; row += rowsPerChunk) {
    const end = Math.min(m.outFeatures, row + rowsPerChunk);
    const n = (end - row) * m.inFeatures;
    const bytes = await readRange(loc0, row * rowBytes, (end - row) * rowBytes, scratch.bytes(0, rowsPerChunk * rowBytes));
    decodeFloatsInto(dtype0, bytes, w);
    loraRows(a, b, m.rank, m.inFeatures, row, end, d);
    const out = dst.subarray(row * m.inFeatures, end * m.inFeatures);
    for (let i = 0; i < n; i++) out[i] = w[i] + f * d[i];
  }
}

/**
 * bf16 θ1 (and bf16 θ0): the bytes are read straight into the SIMD kernel's memory (one read
 * slot filling while the other is converted), converted there, and copied into the weight.
 */
async function fillSlotBf16(
  dst: Float32Array,
  loc1: TensorBytes,
  pair: { loc: TensorBytes; alpha: number } | null,
  scratch: Scratch,
): Promise<void> {
  const { rows, cols } = rowsAndCols(loc1);
  const rows0 = pair ? (pair.loc.info.shape[0] ?? 1) : 0;
  const kernel = scratch.kernel(cols);
  const chunkRows = Math.max(1, Math.floor(kernel.capacity / cols));
  let turn = 0;
  const read = async (r0: number): Promise<ChunkRead> => {
    const n = Math.min(chunkRows, rows - r0);
    const n0 = pair ? Math.max(0, Math.min(n, rows0 - r0)) : 0;
    const t = turn++ % 2;
    const into = async (loc: TensorBytes, which: 0 | 1, rowCount: number) => {
      const target = kernel.input(t, which, rowCount * cols * 2);
      const got = await readRange(loc, r0 * cols * 2, rowCount * cols * 2, target);
      if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset) target.set(got); // a source without readInto (not a local file)
      return target;
    };
    const [theta1, theta0] = await Promise.all([into(loc1, 0, n), n0 > 0 ? into(pair!.loc, 1, n0) : Promise.resolve(null)]);
    return { rows: n, theta1, theta0 };
  };
  let next: Promise<ChunkRead> | null = read(0);
  for (let r0 = 0, t = 0; r0 < rows; t ^= 1) {
    const chunk: ChunkRead = await next!;
    const r1 = r0 + chunk.rows;
    next = r1 < rows ? read(r1) : null; // read ahead into the other slot while this one is converted
    const paired = chunk.theta0 ? chunk.theta0.byteLength / 2 : 0;
    dst.set(kernel.run(t, chunk.rows * cols, paired, pair?.alpha ?? 0), r0 * cols);
    r0 = r1;
  }
}

/** θ1 + α(θ1 − θ0) in double precision, rounded once to float32 on the store into `a1` (θ1). */
function combine(a1: Float32Array, a0: Float32Array, alpha: number, m: number): void {
  for (let i = 0; i < m; i++) a1[i] = a1[i] + alpha * (a1[i] - a0[i]);
}

function aligned16(bytes: Uint8Array): Uint16Array {
  const b = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  return new Uint16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
}

/** Exact decode to float32 (F64 rounded once); monomorphic fast paths for BF16 and F32. */
function decodeInto(dtype: FloatDtype, bytes: Uint8Array, out: Float32Array): void {
  if (dtype === "BF16") {
    const src = aligned16(bytes);
    const bits = new Uint32Array(out.buffer, out.byteOffset, src.length);
    for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  } else if (dtype === "F32") {
    out.set(new Float32Array(bytes.byteOffset % 4 === 0 ? bytes.buffer : bytes.slice().buffer, bytes.byteOffset % 4 === 0 ? bytes.byteOffset : 0, bytes.byteLength >> 2));
  } else {
    decodeFloatsInto(dtype, bytes, out);
  }
}
