/**
 * Test-only: rounds a double to a binary floating-point format exactly, with BigInt
 * arithmetic on the double's integer significand, independently of codec.ts (no float32
 * round-to-odd, no Math.fround). Returns the format's bit pattern. NaN → the canonical NaN.
 */
export interface Format {
  expBits: number;
  mantBits: number;
}
export const BF16: Format = { expBits: 8, mantBits: 7 };
export const F16: Format = { expBits: 5, mantBits: 10 };
export const F32: Format = { expBits: 8, mantBits: 23 };

/** x = sign · M · 2^E with M a BigInt (exact). */
export function decompose(x: number): { sign: number; M: bigint; E: number } {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0), lo = buf.getUint32(4);
  const sign = hi >>> 31;
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exp === 0) return { sign, M: frac, E: -1074 };
  return { sign, M: frac | (1n << 52n), E: exp - 1075 };
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

export function roundToFormat(x: number, f: Format): number {
  const bias = (1 << (f.expBits - 1)) - 1;
  const expAll = (1 << f.expBits) - 1;
  const signBit = 1 << (f.expBits + f.mantBits);
  if (Number.isNaN(x)) return (expAll << f.mantBits) | (1 << (f.mantBits - 1));
  const { sign, M, E } = decompose(x);
  const s = sign ? signBit : 0;
  if (x === Infinity || x === -Infinity) return s | (expAll << f.mantBits);
  if (M === 0n) return s;
  // |x| = M·2^E, floor(log2|x|) = bitLength(M) − 1 + E
  const emin = 1 - bias, emax = bias;
  let e = Math.max(bitLength(M) - 1 + E, emin);
  // n = round(|x| / 2^(e − mantBits)), ties to even
  const shift = E - (e - f.mantBits);
  let n: bigint;
  if (shift >= 0) n = M << BigInt(shift);
  else {
    const k = BigInt(-shift);
    const q = M >> k, rem = M - (q << k), half = 1n << (k - 1n);
    n = rem > half || (rem === half && (q & 1n) === 1n) ? q + 1n : q;
  }
  if (n === 1n << BigInt(f.mantBits + 1)) {
    n >>= 1n;
    e += 1;
  }
  if (e > emax) return s | (expAll << f.mantBits);
  if (n < 1n << BigInt(f.mantBits)) return s | Number(n); // subnormal (or zero)
  return s | ((e + bias) << f.mantBits) | Number(n - (1n << BigInt(f.mantBits)));
}

/** Exact value of a format's bit pattern as a double (every bf16/f16/f32 value is one). */
export function valueOfBits(bits: number, f: Format): number {
  const bias = (1 << (f.expBits - 1)) - 1;
  const sign = bits >> (f.expBits + f.mantBits) ? -1 : 1;
  const exp = (bits >> f.mantBits) & ((1 << f.expBits) - 1);
  const mant = bits & ((1 << f.mantBits) - 1);
  if (exp === (1 << f.expBits) - 1) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - f.mantBits);
  return sign * (2 ** f.mantBits + mant) * 2 ** (exp - bias - f.mantBits);
}
