/**
 * Float codecs: BF16, F16, F32, F64 little-endian bytes to and from doubles.
 *
 * Encoding rounds once, round-to-nearest-even, from the exact double. The narrow formats go
 * through a round-to-odd float32 first: with at least two more significand bits than the
 * target, round-to-odd followed by round-to-nearest-even equals one direct rounding
 * (Boldo & Melquiond, "Emulation of FMA and correctly-rounded sums", 2008), which lets
 * Math.fround (exact RNE to f32) do the heavy lifting.
 */
import type { FloatDtype } from "./dtype.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of the float32 nearest to x rounded to odd (truncate, set the last bit if inexact). */
export function float32BitsRoundToOdd(x: number): number {
  f32[0] = x;
  let bits = u32[0];
  const r = f32[0];
  if (r !== x && x === x && (bits & 1) === 0) {
    // Inexact with an even last bit: step one ulp towards x, which makes it odd.
    // |r| > |x| means Math.fround rounded away from zero, so step towards zero.
    if (Math.abs(r) > Math.abs(x)) bits -= 1;
    else bits += 1;
  }
  return bits >>> 0;
}

/** float32 bits → bfloat16 bits, round-to-nearest-even; NaN stays a (quiet) NaN. */
export function bf16FromFloat32Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** double → bfloat16 bits, rounded once. */
export function bf16FromNumber(x: number): number {
  return bf16FromFloat32Bits(float32BitsRoundToOdd(x));
}

export function numberFromBf16(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** float32 bits → float16 bits, round-to-nearest-even, with subnormals, ±Inf on overflow. */
export function f16FromFloat32Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  // Unbiased exponent e = exp - 127; f16 normal range is e in [-14, 15].
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 of 23 mantissa bits.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // may carry into the exponent, up to Inf: correct
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-25): rounds to ±0
  // Subnormal: value = 1.mant × 2^e = m × 2^-24 with m = (1.mant) × 2^(e+24).
  mant |= 0x800000;
  const shift = -e - 14 + 13; // 14..24
  let h = mant >>> shift;
  const rest = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1))) h += 1;
  return sign | h;
}

export function f16FromNumber(x: number): number {
  return f16FromFloat32Bits(float32BitsRoundToOdd(x));
}

export function numberFromF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Largest finite value of each float dtype (for overflow reports). */
export const MAX_FINITE: Readonly<Record<FloatDtype, number>> = Object.freeze({
  BF16: numberFromBf16(0x7f7f),
  F16: 65504,
  F32: 3.4028234663852886e38,
  F64: Number.MAX_VALUE,
});

/** Decodes little-endian float bytes into doubles (a fresh Float64Array). */
export function decodeFloats(dtype: FloatDtype, bytes: Uint8Array): Float64Array {
  const n = bytes.byteLength / bytesPer(dtype);
  const out = new Float64Array(n);
  decodeFloatsInto(dtype, bytes, out);
  return out;
}

/** Decodes into a caller-owned array (Float64Array or Float32Array, at least n long). */
export function decodeFloatsInto(dtype: FloatDtype, bytes: Uint8Array, out: Float64Array | Float32Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F64": {
      const n = bytes.byteLength >>> 3;
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return;
    }
    case "F32": {
      const n = bytes.byteLength >>> 2;
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return;
    }
    case "BF16": {
      const n = bytes.byteLength >>> 1;
      for (let i = 0; i < n; i++) {
        u32[0] = view.getUint16(i * 2, true) << 16;
        out[i] = f32[0];
      }
      return;
    }
    case "F16": {
      const n = bytes.byteLength >>> 1;
      for (let i = 0; i < n; i++) out[i] = numberFromF16(view.getUint16(i * 2, true));
      return;
    }
  }
}

/** Encodes doubles into little-endian bytes of `dtype`, each rounded once. */
export function encodeFloats(dtype: FloatDtype, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * bytesPer(dtype));
  const view = new DataView(out.buffer);
  switch (dtype) {
    case "F64":
      for (let i = 0; i < n; i++) view.setFloat64(i * 8, values[i], true);
      break;
    case "F32":
      for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i], true);
      break;
    case "BF16":
      for (let i = 0; i < n; i++) view.setUint16(i * 2, bf16FromNumber(values[i]), true);
      break;
    case "F16":
      for (let i = 0; i < n; i++) view.setUint16(i * 2, f16FromNumber(values[i]), true);
      break;
  }
  return out;
}

function bytesPer(dtype: FloatDtype): number {
  return dtype === "F64" ? 8 : dtype === "F32" ? 4 : 2;
}
