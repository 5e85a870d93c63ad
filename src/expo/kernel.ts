/**
 * The arithmetic of one chunk: θ2 = θ1 + α(θ1 − θ0), each value in double precision and
 * rounded once to the output dtype (src/safetensors/codec.ts). `extrapolateChunk` picks the
 * WebAssembly SIMD kernel for bf16 → bf16, a fused typed-array loop for an f32 θ1 written as
 * f32 (θ0 f32, or bf16/f16 widened first) and the generic typed-array path otherwise; all give the same bits as `referenceValue`
 * (src/expo/kernel.spec.ts checks it).
 */
import { bf16FromNumber, bytesPerFloat, decodeFloatsInto, encodeFloatsInto, f16FromNumber, CANONICAL_NAN } from "../safetensors/codec.js";
import type { FloatDtype } from "../safetensors/dtype.js";
import { Bf16Kernel, type KernelStats } from "./wasm-kernel.js";

export type { KernelStats };

export function emptyStats(): KernelStats {
  return { nonFiniteInputs: 0, overflows: 0, sumDelta2: 0, sumTheta0Sq: 0 };
}

export function addStats(into: KernelStats, s: KernelStats): void {
  into.nonFiniteInputs += s.nonFiniteInputs;
  into.overflows += s.overflows;
  into.sumDelta2 += s.sumDelta2;
  into.sumTheta0Sq += s.sumTheta0Sq;
}

/** The definition, one value: the bits of θ1 + α(θ1 − θ0) in `dtype` (a double, then one rounding). */
export function referenceBits(theta1: number, theta0: number, alpha: number, dtype: FloatDtype): number | bigint {
  const r = theta1 + alpha * (theta1 - theta0);
  switch (dtype) {
    case "BF16":
      return bf16FromNumber(r);
    case "F16":
      return f16FromNumber(r);
    case "F32": {
      if (r !== r) return CANONICAL_NAN.F32;
      const f = new Float32Array([r]);
      return new Uint32Array(f.buffer)[0];
    }
    case "F64": {
      const f = new Float64Array([r !== r ? NaN : r]);
      return new BigUint64Array(f.buffer)[0];
    }
  }
}

const MAX_FINITE: Record<FloatDtype, number> = { BF16: 3.3895313892515355e38, F16: 65504, F32: 3.4028234663852886e38, F64: Number.MAX_VALUE };

/** Reusable scratch for the generic path and the bf16 kernel, sized for `capacity` elements. */
export class ChunkWorkspace {
  private bf16: Bf16Kernel | null = null;
  private a = new Float64Array(0);
  private b = new Float64Array(0);
  private out = new Uint8Array(0);
  private f32 = new Float32Array(0);
  constructor(readonly capacity: number) {}

  kernel(): Bf16Kernel {
    this.bf16 ??= new Bf16Kernel(this.capacity);
    return this.bf16;
  }

  doubles(n: number): [Float64Array, Float64Array] {
    if (this.a.length < n) {
      this.a = new Float64Array(Math.max(n, this.capacity));
      this.b = new Float64Array(Math.max(n, this.capacity));
    }
    return [this.a, this.b];
  }

  /** θ0 widened to float32 for the f32 loop when it is stored narrower (bf16, f16). */
  floats(n: number): Float32Array {
    if (this.f32.length < n) this.f32 = new Float32Array(Math.max(n, this.capacity));
    return this.f32;
  }

  outBytes(n: number): Uint8Array {
    if (this.out.byteLength < n) this.out = new Uint8Array(Math.max(n, this.capacity * 8));
    return this.out;
  }
}

/**
 * Generic path: decode θ1 (and θ0 if given) to doubles, compute, encode to `outDtype`.
 * Without θ0 the result is θ1 converted (a copy into another dtype). Returns a view of the
 * workspace's output buffer (valid until the next call).
 */
export function extrapolateGeneric(
  ws: ChunkWorkspace,
  theta1: Uint8Array,
  dtype1: FloatDtype,
  theta0: Uint8Array | null,
  dtype0: FloatDtype,
  outDtype: FloatDtype,
  alpha: number,
  stats: KernelStats,
): Uint8Array {
  const n = theta1.byteLength / bytesPerFloat(dtype1);
  const [a, b] = ws.doubles(n);
  decodeFloatsInto(dtype1, theta1, a);
  const limit = MAX_FINITE[outDtype];
  let nonFinite = 0, overflows = 0, sd = 0, s0 = 0;
  if (theta0) {
    if (theta0.byteLength / bytesPerFloat(dtype0) !== n) throw new RangeError("θ0 and θ1 chunks differ in length");
    decodeFloatsInto(dtype0, theta0, b);
    for (let i = 0; i < n; i++) {
      const x = a[i], y = b[i];
      const d = x - y;
      const r = x + alpha * d;
      a[i] = r;
      sd += d * d;
      s0 += y * y;
      if (x - x !== 0 || y - y !== 0) nonFinite++; // NaN or ±Inf
      else if (!(Math.abs(r) <= limit) && !roundsToFinite(r, outDtype)) overflows++;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = a[i];
      s0 += x * x;
      if (x - x !== 0) nonFinite++;
      else if (!(Math.abs(x) <= limit) && !roundsToFinite(x, outDtype)) overflows++;
    }
  }
  stats.nonFiniteInputs += nonFinite;
  stats.overflows += overflows;
  stats.sumDelta2 += sd;
  stats.sumTheta0Sq += s0;
  const out = ws.outBytes(n * bytesPerFloat(outDtype)).subarray(0, n * bytesPerFloat(outDtype));
  encodeFloatsInto(outDtype, a, out, n);
  return out;
}

/**
 * f32 × f32 → f32 in one pass over typed-array views: the generic path's arithmetic, order of
 * the sums and NaN encoding exactly (kernel.spec compares the bytes and the statistics), without
 * its decode and encode copies through doubles — about 4× faster per element.
 */
export function extrapolateF32(ws: ChunkWorkspace, theta1: Uint8Array, theta0: Uint8Array, alpha: number, stats: KernelStats): Uint8Array {
  const n = theta1.byteLength >>> 2;
  if (theta0.byteLength >>> 2 !== n) throw new RangeError("θ0 and θ1 chunks differ in length");
  // Typed views need 4-byte alignment; chunk reads are aligned as a rule, a copy otherwise.
  // Written inline: with a helper closure here V8 left the loop at 6–12 ns per element.
  const a1 = theta1.byteOffset % 4 === 0 ? theta1 : theta1.slice();
  const a0 = theta0.byteOffset % 4 === 0 ? theta0 : theta0.slice();
  const x1 = new Float32Array(a1.buffer, a1.byteOffset, n);
  const x0 = new Float32Array(a0.buffer, a0.byteOffset, n);
  const out = ws.outBytes(4 * n).subarray(0, 4 * n);
  const dst = new Float32Array(out.buffer, out.byteOffset, n);
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  const limit = MAX_FINITE.F32;
  let nonFinite = 0, overflows = 0, sd = 0, s0 = 0;
  for (let i = 0; i < n; i++) {
    const x = x1[i], y = x0[i];
    const d = x - y;
    const r = x + alpha * d;
    sd += d * d;
    s0 += y * y;
    if (x - x !== 0 || y - y !== 0) nonFinite++;
    else if (!(Math.abs(r) <= limit) && !roundsToFinite(r, "F32")) overflows++;
    if (r === r) dst[i] = r;
    else bits[i] = CANONICAL_NAN.F32;
  }
  stats.nonFiniteInputs += nonFinite;
  stats.overflows += overflows;
  stats.sumDelta2 += sd;
  stats.sumTheta0Sq += s0;
  return out;
}

/** Just above the largest finite value, values still round down to it. */
function roundsToFinite(x: number, dtype: FloatDtype): boolean {
  if (x !== x || Math.abs(x) === Infinity) return false;
  const bits = referenceBits(x, x, 0, dtype);
  switch (dtype) {
    case "BF16":
      return ((bits as number) & 0x7f80) !== 0x7f80;
    case "F16":
      return ((bits as number) & 0x7c00) !== 0x7c00;
    case "F32":
      return ((bits as number) & 0x7f800000) !== 0x7f800000;
    case "F64":
      return true;
  }
}

/**
 * One chunk of one tensor. bf16 × bf16 → bf16 runs the SIMD kernel (the caller may already
 * have read the inputs into `ws.kernel().theta1/theta0`, then pass those views); an f32 θ1
 * written as f32 the fused loop (a bf16/f16 θ0 widened first); everything else the generic path. Returns the output bytes (a view into
 * the workspace).
 */
export function extrapolateChunk(
  ws: ChunkWorkspace,
  theta1: Uint8Array,
  dtype1: FloatDtype,
  theta0: Uint8Array | null,
  dtype0: FloatDtype,
  outDtype: FloatDtype,
  alpha: number,
  stats: KernelStats,
): Uint8Array {
  if (theta0 && dtype1 === "BF16" && dtype0 === "BF16" && outDtype === "BF16") {
    const n = theta1.byteLength >>> 1;
    if (n <= ws.capacity) {
      const k = ws.kernel();
      if (theta1.buffer !== k.theta1.buffer || theta1.byteOffset !== k.theta1.byteOffset) k.theta1.set(theta1);
      if (theta0.buffer !== k.theta0.buffer || theta0.byteOffset !== k.theta0.byteOffset) k.theta0.set(theta0);
      k.run(n, alpha);
      addStats(stats, k.takeStats());
      return k.out.subarray(0, 2 * n);
    }
  }
  if (theta0 && dtype1 === "F32" && outDtype === "F32") {
    if (dtype0 === "F32") return extrapolateF32(ws, theta1, theta0, alpha, stats);
    // A full-precision θ1 trained from a bf16/f16 θ0 (a common pair): θ0 widened exactly first.
    if (dtype0 === "BF16" || dtype0 === "F16") {
      const n = theta1.byteLength >>> 2;
      if (theta0.byteLength / 2 !== n) throw new RangeError("θ0 and θ1 chunks differ in length");
      const wide = ws.floats(n);
      if (dtype0 === "BF16") {
        // bf16 is the high half of an f32: a shift, written inline (faster than the codec's
        // generic decoder, which serves Float64Array outputs too).
        const h = theta0.byteOffset % 2 === 0 ? theta0 : theta0.slice();
        const src = new Uint16Array(h.buffer, h.byteOffset, n);
        const bits = new Uint32Array(wide.buffer, 0, n);
        for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
      } else decodeFloatsInto(dtype0, theta0, wide);
      return extrapolateF32(ws, theta1, new Uint8Array(wide.buffer, 0, 4 * n), alpha, stats);
    }
  }
  return extrapolateGeneric(ws, theta1, dtype1, theta0, dtype0, outDtype, alpha, stats);
}
