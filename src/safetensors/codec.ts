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

/** The NaN each encoder writes: positive, quiet, no payload (NaN signs and payloads are not portable). */
export const CANONICAL_NAN = Object.freeze({ BF16: 0x7fc0, F16: 0x7e00, F32: 0x7fc00000 });

/** double → bfloat16 bits, rounded once; any NaN → the canonical 0x7fc0. */
export function bf16FromNumber(x: number): number {
  if (x !== x) return CANONICAL_NAN.BF16;
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

/** double → float16 bits, rounded once; any NaN → the canonical 0x7e00. */
export function f16FromNumber(x: number): number {
  if (x !== x) return CANONICAL_NAN.F16;
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
  const size = bytesPer(dtype);
  const n = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice(); // typed views need alignment
  switch (dtype) {
    case "F64": {
      const src = new Float64Array(bytes.buffer, bytes.byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = src[i];
      return;
    }
    case "F32": {
      const src = new Float32Array(bytes.buffer, bytes.byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = src[i];
      return;
    }
    case "BF16": {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const wide = new Uint32Array(Math.min(n, 4096));
      const wideF = new Float32Array(wide.buffer);
      for (let base = 0; base < n; base += wide.length) {
        const m = Math.min(wide.length, n - base);
        for (let i = 0; i < m; i++) wide[i] = src[base + i] << 16;
        for (let i = 0; i < m; i++) out[base + i] = wideF[i];
      }
      return;
    }
    case "F16": {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const table = f16Table();
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
      return;
    }
  }
}

let F16_TABLE: Float32Array | null = null;
/** Every f16 value by its bits (256 kB, built once): decoding by lookup, exact (f16 ⊂ f32). */
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = numberFromF16(h);
  }
  return F16_TABLE;
}

/** Encodes doubles into little-endian bytes of `dtype`, each rounded once (NaN → the canonical NaN). */
export function encodeFloats(dtype: FloatDtype, values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * bytesPer(dtype));
  encodeFloatsInto(dtype, values, out);
  return out;
}

/** Encodes into caller-owned bytes (at least n × size long, aligned to the element size). */
export function encodeFloatsInto(dtype: FloatDtype, values: ArrayLike<number>, out: Uint8Array, n = values.length): void {
  switch (dtype) {
    case "F64": {
      const dst = new Float64Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        dst[i] = v === v ? v : NaN;
      }
      const bits = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        if (dst[i] !== dst[i]) {
          bits[2 * i] = 0;
          bits[2 * i + 1] = 0x7ff80000;
        }
      }
      return;
    }
    case "F32": {
      const dst = new Float32Array(out.buffer, out.byteOffset, n);
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === v) dst[i] = v;
        else bits[i] = CANONICAL_NAN.F32;
      }
      return;
    }
    case "BF16": {
      const dst = new Uint16Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) dst[i] = bf16FromNumber(values[i]);
      return;
    }
    case "F16": {
      const dst = new Uint16Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) dst[i] = f16FromNumber(values[i]);
      return;
    }
  }
}

export function bytesPerFloat(dtype: FloatDtype): number {
  return bytesPer(dtype);
}

function bytesPer(dtype: FloatDtype): number {
  return dtype === "F64" ? 8 : dtype === "F32" ? 4 : 2;
}

// The typed-array fast paths above read and write in the platform's byte order; safetensors
// is little-endian, as is every platform Node supports in practice. Refuse loudly otherwise.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("expo-bot needs a little-endian platform");
