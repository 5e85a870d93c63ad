/**
 * Byte producers for the adapter outputs, one tensor at a time in bounded chunks (the
 * writer of src/safetensors/writer.ts pulls them):
 *
 * - `fullTensorChunks`: a full tensor (`modules_to_save`, resized embedding) extrapolated
 *   against θ0 exactly as for full models (the same chunk kernel, src/expo/kernel.ts);
 * - `mergedLoraChunks`: θ0's weight plus the scaled update, row block by row block:
 *   v = w0 + f·Σ_k B[i,k]·A[k,j] with f = (1 + α)·s, the sum over k ascending, all in
 *   double precision, rounded once to the output dtype;
 * - `convertedChunks`: a θ0 tensor copied (converted when the output dtype differs).
 */
import type { ModelWeights } from "../../checkpoint/weights.js";
import { loraFactors, loraRows } from "../../checkpoint/lora-update.js";
import { decodeFloatsInto, encodeFloats, MAX_FINITE } from "../../safetensors/codec.js";
import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../../safetensors/dtype.js";
import { extrapolateChunk, type ChunkWorkspace, type KernelStats } from "../kernel.js";
import type { TensorAction } from "../plan.js";
import type { AdapterModulePlan } from "./plan.js";

export const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

/** `action` is from the adapter plan's full-tensor plan; θ1's tensor is the adapter's `key`. */
export async function* fullTensorChunks(p: { action: TensorAction; key: string; theta0: ModelWeights; adapter: ModelWeights; ws: ChunkWorkspace; stats: KernelStats; chunkElements: number }): AsyncGenerator<Uint8Array> {
  const { action, key, theta0, adapter, ws, stats, chunkElements } = p;
  const file1 = adapter.get(key).file;
  if (action.kind === "copy" && !isFloatDtype(action.dtype)) {
    yield await file1.readTensor(key);
    return;
  }
  const d1 = action.theta1.dtype as FloatDtype;
  const out = action.dtype as FloatDtype;
  const total = file1.numel(key);
  const shared = action.kind === "extrapolate" ? action.sharedElements : 0;
  const s1 = DTYPE_BYTES[d1];
  for (let from = 0; from < total; ) {
    const upTo = from < shared ? Math.min(shared, from + chunkElements) : Math.min(total, from + chunkElements);
    const b1 = await file1.readTensorRange(key, from * s1, upTo * s1);
    if (action.kind === "extrapolate" && from < shared) {
      const d0 = action.theta0.dtype;
      const file0 = theta0.get(action.theta0.name).file;
      const b0 = await file0.readTensorRange(action.theta0.name, from * DTYPE_BYTES[d0], upTo * DTYPE_BYTES[d0]);
      yield extrapolateChunk(ws, b1, d1, b0, d0, out, action.alpha, stats).slice();
    } else {
      // Rows beyond θ0's vocabulary, or α = 0: θ1's values (converted if the dtype differs).
      yield extrapolateChunk(ws, b1, d1, null, d1, out, 0, { nonFiniteInputs: 0, overflows: 0, sumDelta2: 0, sumTheta0Sq: 0 }).slice();
    }
    from = upTo;
  }
}

export interface MergeStats {
  nonFinite: number;
  /** Σ (s·B·A)² (θ1 − θ0, before the 1 + α factor) and Σ w0² over the tensor. */
  sumUpdate2: number;
  sumTheta0Sq: number;
}

export async function* mergedLoraChunks(p: { m: AdapterModulePlan; factor: number; theta0: ModelWeights; adapter: ModelWeights; outDtype: FloatDtype; stats: MergeStats; chunkElements: number }): AsyncGenerator<Uint8Array> {
  const { m, factor, theta0, adapter, outDtype, stats } = p;
  const { a, b } = await loraFactors(adapter, m);
  const f = factor * m.scale;
  const file0 = theta0.get(m.baseTensor).file;
  const rowBytes = m.inFeatures * DTYPE_BYTES[m.baseDtype];
  const rowsPerChunk = Math.max(1, Math.floor(p.chunkElements / m.inFeatures));
  const d = new Float64Array(rowsPerChunk * m.inFeatures);
  const w = new Float64Array(rowsPerChunk * m.inFeatures);
  const limit = MAX_FINITE[outDtype];
  for (let row = 0; row < m.outFeatures; row += rowsPerChunk) {
    const end = Math.min(m.outFeatures, row + rowsPerChunk);
    const n = (end - row) * m.inFeatures;
    decodeFloatsInto(m.baseDtype, await file0.readTensorRange(m.baseTensor, row * rowBytes, end * rowBytes), w);
    loraRows(a, b, m.rank, m.inFeatures, row, end, d);
    for (let i = 0; i < n; i++) {
      const v = w[i] + f * d[i];
      const u = m.scale * d[i];
      stats.sumUpdate2 += u * u;
      stats.sumTheta0Sq += w[i] * w[i];
      if (!(Math.abs(v) <= limit)) stats.nonFinite++;
      w[i] = v;
    }
    yield encodeFloats(outDtype, w.subarray(0, n));
  }
}

/** θ0's tensor as is, or converted to `outDtype`, in chunks. */
export async function* convertedChunks(p: { weights: ModelWeights; name: string; outDtype: string; ws: ChunkWorkspace; chunkElements: number }): AsyncGenerator<Uint8Array> {
  const { file, info } = p.weights.get(p.name);
  const size = DTYPE_BYTES[info.dtype];
  const total = file.numel(p.name);
  for (let from = 0; from < total; from += p.chunkElements) {
    const upTo = Math.min(total, from + p.chunkElements);
    const bytes = await file.readTensorRange(p.name, from * size, upTo * size);
    if (info.dtype === p.outDtype || !isFloatDtype(info.dtype) || !isFloatDtype(p.outDtype)) yield bytes;
    else yield extrapolateChunk(p.ws, bytes, info.dtype, null, info.dtype, p.outDtype, 0, { nonFiniteInputs: 0, overflows: 0, sumDelta2: 0, sumTheta0Sq: 0 }).slice();
  }
}
