/**
 * The float32 weights a built graph takes as inputs (graph.ts `WeightSlot`), one
 * Float32Array per slot, filled from safetensors files in bounded chunks:
 *
 * - plain:  w = θ (decoded exactly from F32 / BF16 / F16; F64 rounded once);
 * - α pair: w = θ1 + α(θ1 − θ0), each value computed in double precision from θ1's and θ0's
 *   stored values and rounded once to float32 — src/expo/kernel.ts's definition with a float32
 *   output. Vocabulary rows θ1 appended beyond θ0's are θ1's (Δ = 0 there), as src/expo does.
 *
 * `fill` rewrites the same arrays in place, so the session that was created over them serves
 * the new α at once (onnxruntime-node passes CPU inputs to the kernels without copying).
 * Nothing that grows with the model is allocated besides the arrays: bytes are read a few
 * MiB at a time (the next chunk is read while the current one is converted).
 */
import type { ModelWeights, WeightLocation } from "../checkpoint/weights.js";
import { decodeFloatsInto } from "../safetensors/codec.js";
import type { FloatDtype } from "../safetensors/dtype.js";
import { UserError } from "../util/errors.js";
import type { WeightSlot } from "./graph.js";

const DTYPE_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2, F64: 8 };
/** Target bytes of θ1 read per chunk. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Rows per transpose tile: each written run is this many contiguous floats. */
const TILE_ROWS = 64;

export interface AlphaPair {
  /** θ0, the SFT checkpoint (same architecture and tensor names as θ1). */
  theta0: ModelWeights;
  alpha: number;
}

export class WeightStore {
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

  /** Bytes held (float32). */
  get bytes(): number {
    let n = 0;
    for (const a of this.arrays.values()) n += a.byteLength;
    return n;
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

  /** Fills every array from θ1 alone, or θ1 + α(θ1 − θ0). */
  async fill(theta1: ModelWeights, pair?: AlphaPair): Promise<void> {
    if (pair) {
      if (!Number.isFinite(pair.alpha)) throw new UserError(`alpha must be a finite number, got ${pair.alpha}`);
      WeightStore.checkPair(this.slots, theta1, pair.theta0);
    }
    for (const slot of this.slots) {
      await fillSlot(this.arrays.get(slot.input)!, slot, theta1.get(slot.tensor), pair ? { loc: pair.theta0.get(slot.tensor), alpha: pair.alpha } : null);
    }
  }
}

interface ChunkRead {
  rows: number;
  theta1: Uint8Array;
  theta0: Uint8Array | null;
}

async function fillSlot(dst: Float32Array, slot: WeightSlot, loc1: WeightLocation, pair: { loc: WeightLocation; alpha: number } | null): Promise<void> {
  const shape = loc1.info.shape;
  const rows = shape[0] ?? 1;
  const cols = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const dtype1 = loc1.info.dtype as FloatDtype;
  const size1 = DTYPE_BYTES[dtype1];
  const rows0 = pair ? (pair.loc.info.shape[0] ?? 1) : 0;
  const dtype0 = pair ? (pair.loc.info.dtype as FloatDtype) : null;
  const size0 = dtype0 ? DTYPE_BYTES[dtype0] : 0;
  const chunkRows = Math.max(TILE_ROWS, Math.floor(CHUNK_BYTES / (cols * size1) / TILE_ROWS) * TILE_ROWS);
  const a1 = new Float32Array(Math.min(rows, chunkRows) * cols);
  const a0 = pair ? new Float32Array(a1.length) : null;

  const read = async (r0: number): Promise<ChunkRead> => {
    const n = Math.min(chunkRows, rows - r0);
    const n0 = pair ? Math.max(0, Math.min(n, rows0 - r0)) : 0;
    const [theta1, theta0] = await Promise.all([
      loc1.file.readTensorRange(slot.tensor, r0 * cols * size1, (r0 + n) * cols * size1),
      n0 > 0 ? pair!.loc.file.readTensorRange(slot.tensor, r0 * cols * size0, (r0 + n0) * cols * size0) : Promise.resolve(null),
    ]);
    return { rows: n, theta1, theta0 };
  };

  let next: Promise<ChunkRead> | null = read(0);
  for (let r0 = 0; r0 < rows; ) {
    const chunk: ChunkRead = await next!;
    const r1 = r0 + chunk.rows;
    next = r1 < rows ? read(r1) : null; // read ahead while this chunk is converted
    const count = chunk.rows * cols;
    decodeFloatsInto(dtype1, chunk.theta1, a1);
    if (chunk.theta0 && a0) {
      decodeFloatsInto(dtype0!, chunk.theta0, a0);
      const alpha = pair!.alpha;
      const m = chunk.theta0.byteLength / size0;
      // Double-precision arithmetic on the float32 values, one rounding on the store.
      for (let i = 0; i < m; i++) a1[i] = a1[i] + alpha * (a1[i] - a0[i]);
    }
    if (!slot.transpose) dst.set(a1.subarray(0, count), r0 * cols);
    else transposeInto(dst, a1, chunk.rows, cols, r0, rows);
    r0 = r1;
  }
}

/** dst[c·rows + r0 + r] = src[r·cols + c] for r < n: rows r0…r0+n of [rows, cols] into its [cols, rows] transpose. */
function transposeInto(dst: Float32Array, src: Float32Array, n: number, cols: number, r0: number, rows: number): void {
  for (let t = 0; t < n; t += TILE_ROWS) {
    const tn = Math.min(TILE_ROWS, n - t);
    for (let c = 0; c < cols; c++) {
      const out = c * rows + r0 + t;
      let at = t * cols + c;
      for (let r = 0; r < tn; r++, at += cols) dst[out + r] = src[at];
    }
  }
}
