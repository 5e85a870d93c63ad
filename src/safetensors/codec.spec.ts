import { describe, expect, it } from "vitest";
import { bf16FromNumber, decodeFloats, encodeFloats, f16FromNumber, float32BitsRoundToOdd, numberFromBf16, numberFromF16 } from "./codec.js";
import { BF16, F16, F32, roundToFormat, valueOfBits } from "./exact-round.testutil.js";
import { mulberry32 } from "../util/random.js";

const hex = (n: number) => "0x" + n.toString(16).padStart(4, "0");

// Hand-derived expectations (exact binary reasoning, written out), then a sweep against the
// independent BigInt rounding in exact-round.testutil.ts.
describe("bf16 rounding, exact values", () => {
  const cases: Array<[string, number, number]> = [
    ["+0", 0, 0x0000],
    ["-0", -0, 0x8000],
    ["1", 1, 0x3f80],
    ["-2", -2, 0xc000],
    // 1 + 2^-8 is exactly halfway between 1 (0x3f80, even) and 1 + 2^-7 (0x3f81): ties to even → 1
    ["tie to even, down", 1 + 2 ** -8, 0x3f80],
    // 1 + 3·2^-8 is halfway between 0x3f81 (odd) and 0x3f82 (even) → up
    ["tie to even, up", 1 + 3 * 2 ** -8, 0x3f82],
    // just above the tie (by 2^-40, far below float32 precision): must round up, a naive double→f32→bf16 would not
    ["above a tie by less than an f32 ulp", 1 + 2 ** -8 + 2 ** -40, 0x3f81],
    ["below a tie by less than an f32 ulp", 1 + 3 * 2 ** -8 - 2 ** -40, 0x3f81],
    // largest finite bf16: (2 − 2^-7)·2^127 = 0x7f7f
    ["largest finite", (2 - 2 ** -7) * 2 ** 127, 0x7f7f],
    // the overflow threshold (2 − 2^-8)·2^127 is a tie between 0x7f7f (odd) and 2^128 → ∞
    ["overflow threshold → inf", (2 - 2 ** -8) * 2 ** 127, 0x7f80],
    ["just under the threshold → max", (2 - 2 ** -8) * 2 ** 127 - 2 ** 100, 0x7f7f],
    ["beyond float32 → inf", 1e39, 0x7f80],
    ["-beyond float32 → -inf", -1e300, 0xff80],
    ["+inf", Infinity, 0x7f80],
    ["-inf", -Infinity, 0xff80],
    // smallest subnormal bf16 = 2^-133
    ["smallest subnormal", 2 ** -133, 0x0001],
    ["half the smallest subnormal → 0 (tie to even)", 2 ** -134, 0x0000],
    ["just above half the smallest subnormal → 1", 2 ** -134 + 2 ** -160, 0x0001],
    ["1.5 × smallest subnormal → 2 (tie to even)", 3 * 2 ** -134, 0x0002],
    ["tiny negative → -0", -(2 ** -140), 0x8000],
    ["largest subnormal", 127 * 2 ** -133, 0x007f],
    ["smallest normal", 2 ** -126, 0x0080],
    ["NaN → canonical", NaN, 0x7fc0],
  ];
  for (const [label, x, bits] of cases) {
    it(`${label}: ${x} → ${hex(bits)}`, () => {
      expect(hex(bf16FromNumber(x))).toBe(hex(bits));
      expect(hex(roundToFormat(x, BF16))).toBe(hex(bits)); // the independent rounding agrees with the hand derivation
    });
  }
});

describe("f16 rounding, exact values", () => {
  const cases: Array<[string, number, number]> = [
    ["+0", 0, 0x0000],
    ["-0", -0, 0x8000],
    ["1", 1, 0x3c00],
    ["tie to even, down", 1 + 2 ** -11, 0x3c00],
    ["tie to even, up", 1 + 3 * 2 ** -11, 0x3c02],
    ["above a tie by less than an f32 ulp", 1 + 2 ** -11 + 2 ** -45, 0x3c01],
    ["largest finite 65504", 65504, 0x7bff],
    ["65519.99 → 65504", 65519.99, 0x7bff],
    ["65520 (tie with 2^16) → inf", 65520, 0x7c00],
    ["-70000 → -inf", -70000, 0xfc00],
    ["smallest subnormal 2^-24", 2 ** -24, 0x0001],
    ["2^-25 (tie) → 0", 2 ** -25, 0x0000],
    ["2^-25 + ε → smallest subnormal", 2 ** -25 + 2 ** -60, 0x0001],
    ["3·2^-25 (tie) → 2·2^-24", 3 * 2 ** -25, 0x0002],
    ["largest subnormal", 1023 * 2 ** -24, 0x03ff],
    ["rounds up into the smallest normal", 1023.5 * 2 ** -24, 0x0400],
    ["smallest normal", 2 ** -14, 0x0400],
    ["+inf", Infinity, 0x7c00],
    ["NaN → canonical", NaN, 0x7e00],
  ];
  for (const [label, x, bits] of cases) {
    it(`${label}: ${x} → ${hex(bits)}`, () => {
      expect(hex(f16FromNumber(x))).toBe(hex(bits));
      expect(hex(roundToFormat(x, F16))).toBe(hex(bits));
    });
  }
});

describe("rounding sweeps against exact BigInt rounding", () => {
  const rand = mulberry32(1234);
  function randomDouble(): number {
    const kind = rand();
    if (kind < 0.3) return (rand() - 0.5) * 2 ** Math.floor(rand() * 80 - 40); // ordinary
    if (kind < 0.5) return (rand() - 0.5) * 2 ** Math.floor(rand() * 300 - 150); // wide range (f16/bf16 sub- and overflow)
    // near a tie of bf16/f16: a bf16 value plus half an ulp, nudged by a tiny amount
    const base = numberFromBf16((rand() * 0x7f7f) | 0) * (rand() < 0.5 ? -1 : 1);
    const ulp = Math.abs(base) * 2 ** -7 || 2 ** -133;
    return base + ulp / 2 + (rand() - 0.5) * ulp * 2 ** -(20 + Math.floor(rand() * 30));
  }
  it("bf16FromNumber equals exact RNE on 200k doubles", () => {
    for (let i = 0; i < 200_000; i++) {
      const x = randomDouble();
      const got = bf16FromNumber(x), want = roundToFormat(x, BF16);
      if (got !== want) expect({ x, got: hex(got) }).toEqual({ x, got: hex(want) });
    }
  });
  it("f16FromNumber equals exact RNE on 200k doubles", () => {
    for (let i = 0; i < 200_000; i++) {
      const x = randomDouble() * 2 ** -100 * (rand() < 0.5 ? 2 ** 100 : 2 ** 90);
      const got = f16FromNumber(x), want = roundToFormat(x, F16);
      if (got !== want) expect({ x, got: hex(got) }).toEqual({ x, got: hex(want) });
    }
  });
  it("every bf16 and every f16 bit pattern decodes exactly and re-encodes to itself", () => {
    for (let h = 0; h < 0x10000; h++) {
      const b = numberFromBf16(h), f = numberFromF16(h);
      if (Number.isNaN(b)) expect(bf16FromNumber(b)).toBe(0x7fc0);
      else {
        expect(Object.is(b, valueOfBits(h, BF16))).toBe(true);
        expect(bf16FromNumber(b)).toBe(h);
      }
      if (Number.isNaN(f)) expect(f16FromNumber(f)).toBe(0x7e00);
      else {
        expect(Object.is(f, valueOfBits(h, F16))).toBe(true);
        expect(f16FromNumber(f)).toBe(h);
      }
    }
  });
  it("round-to-odd float32 is truncation with a sticky last bit", () => {
    for (let i = 0; i < 50_000; i++) {
      const x = randomDouble();
      if (!Number.isFinite(x) || Math.abs(x) > 3e38) continue;
      const bits = float32BitsRoundToOdd(x);
      const v = valueOfBits(bits, F32);
      const rneBits = roundToFormat(x, F32);
      if (valueOfBits(rneBits, F32) === x) expect(bits).toBe(rneBits >>> 0);
      else {
        // inexact: the odd one of the two float32 neighbours of x
        expect(bits & 1).toBe(1);
        const mag = bits & 0x7fffffff;
        const below = valueOfBits(mag - 1, F32), above = valueOfBits(mag + 1, F32);
        expect(below < Math.abs(x) && Math.abs(x) < above).toBe(true);
        expect(Math.sign(v) === Math.sign(x)).toBe(true);
      }
    }
  });
});

describe("encodeFloats / decodeFloats", () => {
  it("round-trips each dtype and rounds once", () => {
    const values = [0, -0, 1, -1.5, 65504, 1e-8, 3.141592653589793, -Infinity];
    for (const dtype of ["BF16", "F16", "F32", "F64"] as const) {
      const back = decodeFloats(dtype, encodeFloats(dtype, values));
      const want = values.map((v) => (dtype === "BF16" ? valueOfBits(roundToFormat(v, BF16), BF16) : dtype === "F16" ? valueOfBits(roundToFormat(v, F16), F16) : dtype === "F32" ? Math.fround(v) : v));
      expect([...back]).toEqual(want);
    }
  });
  it("writes one canonical NaN whatever the NaN's sign or payload", () => {
    const negNaN = new Float64Array(new BigUint64Array([0xfff8000000000001n]).buffer)[0];
    expect([...encodeFloats("BF16", [negNaN])]).toEqual([0xc0, 0x7f]);
    expect([...encodeFloats("F16", [negNaN])]).toEqual([0x00, 0x7e]);
    expect([...encodeFloats("F32", [negNaN])]).toEqual([0, 0, 0xc0, 0x7f]);
    expect([...encodeFloats("F64", [negNaN])]).toEqual([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);
  });
  it("decodes unaligned input", () => {
    const bytes = new Uint8Array(9);
    bytes.set(encodeFloats("F32", [1.5, -2]), 1);
    expect([...decodeFloats("F32", bytes.subarray(1))]).toEqual([1.5, -2]);
  });
});
