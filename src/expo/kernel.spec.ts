import { describe, expect, it } from "vitest";
import { encodeFloats, numberFromBf16 } from "../safetensors/codec.js";
import type { FloatDtype } from "../safetensors/dtype.js";
import { BF16, F16, F32, roundToFormat } from "../safetensors/exact-round.testutil.js";
import { mulberry32 } from "../util/random.js";
import { ChunkWorkspace, emptyStats, extrapolateChunk, extrapolateF32, extrapolateGeneric, referenceBits } from "./kernel.js";
import { Bf16Kernel, kernelModuleBytes } from "./wasm-kernel.js";

const hex = (n: number) => "0x" + n.toString(16).padStart(4, "0");

/** Independent expectation: the double r = a + α(a − b), rounded exactly by BigInt arithmetic. */
function expectedBf16(a: number, b: number, alpha: number): number {
  return roundToFormat(a + alpha * (a - b), BF16);
}

const EDGE_BF16 = [
  0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x3f81, 0x7f7f, 0xff7f, 0x7f7e, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81,
  0x3c00, 0x3c01, 0x0100, 0x00ff,
];

function randomPairs(n: number, seed: number): [Uint16Array, Uint16Array] {
  const rand = mulberry32(seed);
  const a = new Uint16Array(n), b = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const k = rand();
    if (k < 0.6) {
      // realistic: θ0 a bf16 weight, θ1 a few ulps away
      a[i] = (((rand() * 0x3d00) | 0) + 0x3000) | (rand() < 0.5 ? 0x8000 : 0);
      b[i] = (a[i] + ((rand() * 9) | 0) - 4) & 0xffff;
    } else if (k < 0.8) {
      a[i] = (rand() * 0x10000) | 0;
      b[i] = (rand() * 0x10000) | 0;
    } else {
      a[i] = EDGE_BF16[(rand() * EDGE_BF16.length) | 0];
      b[i] = rand() < 0.5 ? EDGE_BF16[(rand() * EDGE_BF16.length) | 0] : (a[i] + 1) & 0xffff;
    }
  }
  return [a, b];
}

describe("WebAssembly bf16 kernel", () => {
  it("is a valid module", () => {
    expect(WebAssembly.validate(kernelModuleBytes() as Uint8Array<ArrayBuffer>)).toBe(true);
  });

  for (const alpha of [0.3, 0.5, 0.1, 1, 2.5, 25, 1e-3, 3.1e38]) {
    it(`equals the exact double-then-round-once value, α = ${alpha} (200k random and edge pairs)`, () => {
      const n = 200_003; // not a multiple of 8: the scalar tail runs too
      const k = new Bf16Kernel(n);
      const [a, b] = randomPairs(n, Math.round(alpha * 1000) + 7);
      new Uint16Array(k.theta1.buffer, k.theta1.byteOffset, n).set(a);
      new Uint16Array(k.theta0.buffer, k.theta0.byteOffset, n).set(b);
      k.run(n, alpha);
      const out = new Uint16Array(k.out.buffer, k.out.byteOffset, n);
      let nonFinite = 0, overflow = 0, mismatches = 0;
      for (let i = 0; i < n; i++) {
        const x = numberFromBf16(a[i]), y = numberFromBf16(b[i]);
        const want = expectedBf16(x, y, alpha);
        const inBad = !Number.isFinite(x) || !Number.isFinite(y);
        if (inBad) nonFinite++;
        else if ((want & 0x7f80) === 0x7f80) overflow++;
        if (out[i] !== want && mismatches++ < 5) expect({ i, a: hex(a[i]), b: hex(b[i]), got: hex(out[i]) }).toEqual({ i, a: hex(a[i]), b: hex(b[i]), got: hex(want) });
      }
      expect(mismatches).toBe(0);
      const s = k.takeStats();
      expect(s.nonFiniteInputs).toBe(nonFinite);
      expect(s.overflows).toBe(overflow);
    });
  }

  it("corrects the double-rounding cases (float32 result exactly on a bf16 midpoint, r not)", () => {
    // Search pairs and α where rounding r to float32 lands on a bf16 midpoint although r is
    // not there: naive RNE(float32(r)) then goes the wrong way; the kernel must not.
    const rand = mulberry32(1);
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    const cases: [number, number, number][] = [];
    for (let t = 0; t < 3_000_000 && cases.length < 6; t++) {
      const x = 0x3f00 + ((rand() * 0x100) | 0);
      const y = (0x3f00 - (((rand() * 14) | 0) + 1) * 0x80 + ((rand() * 0x80) | 0)) | (rand() < 0.5 ? 0x8000 : 0);
      const alpha = rand();
      const r = numberFromBf16(x) + alpha * (numberFromBf16(x) - numberFromBf16(y));
      f32[0] = r;
      const naive = (u32[0] + 0x7fff + ((u32[0] >>> 16) & 1)) >>> 16;
      if ((u32[0] & 0xffff) === 0x8000 && f32[0] !== r && naive !== expectedBf16(numberFromBf16(x), numberFromBf16(y), alpha)) cases.push([x, y, alpha]);
    }
    expect(cases.length).toBeGreaterThan(0);
    const k = new Bf16Kernel(8);
    const a = new Uint16Array(k.theta1.buffer, k.theta1.byteOffset, 8);
    const b = new Uint16Array(k.theta0.buffer, k.theta0.byteOffset, 8);
    const out = new Uint16Array(k.out.buffer, k.out.byteOffset, 8);
    for (const [x, y, alpha] of cases) {
      a.fill(x);
      b.fill(y);
      k.run(8, alpha); // one vector block
      const want = expectedBf16(numberFromBf16(x), numberFromBf16(y), alpha);
      expect([...out].map(hex)).toEqual(new Array(8).fill(hex(want)));
    }
  });

  it("matches the reference codec on 2M realistic elements in chunks", () => {
    const n = 1 << 21;
    const [a, b] = randomPairs(n, 4242);
    const ws = new ChunkWorkspace(1 << 16);
    for (let from = 0; from < n; from += 1 << 16) {
      const m = Math.min(1 << 16, n - from);
      const out = extrapolateChunk(ws, new Uint8Array(a.buffer, 2 * from, 2 * m), "BF16", new Uint8Array(b.buffer, 2 * from, 2 * m), "BF16", "BF16", 0.37, emptyStats());
      const o = new Uint16Array(out.buffer, out.byteOffset, m);
      for (let i = 0; i < m; i++) {
        const want = referenceBits(numberFromBf16(a[from + i]), numberFromBf16(b[from + i]), 0.37, "BF16");
        if (o[i] !== want) expect(hex(o[i])).toBe(hex(want as number));
      }
    }
  });
});

describe("generic path (other dtypes and mixes)", () => {
  const rand = mulberry32(5);
  const values = (n: number) => Array.from({ length: n }, (_, i) => (i % 17 === 0 ? [0, -0, 65504, 70000, 1e-7, 6e-8, 3e38][i % 7] : (rand() - 0.5) * 2 ** ((rand() * 40 - 20) | 0)));
  const pairs: Array<[FloatDtype, FloatDtype, FloatDtype]> = [
    ["F16", "F16", "F16"], ["F32", "F32", "F32"], ["F32", "BF16", "BF16"], ["BF16", "F32", "F16"], ["F64", "F16", "BF16"], ["BF16", "BF16", "F32"], ["F16", "F64", "F64"],
  ];
  for (const [d1, d0, dout] of pairs) {
    it(`θ1 ${d1}, θ0 ${d0} → ${dout} equals exact rounding of the double`, () => {
      const n = 2000;
      const v1 = encodeFloats(d1, values(n)), v0 = encodeFloats(d0, values(n));
      const ws = new ChunkWorkspace(4096);
      const stats = emptyStats();
      const out = extrapolateGeneric(ws, v1, d1, v0, d0, dout, 0.5, stats);
      const a = new Float64Array(n), b = new Float64Array(n);
      // decode independently of the codec for f16 (bits → value by formula)
      const dec = (d: FloatDtype, bytes: Uint8Array, target: Float64Array) => {
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let i = 0; i < n; i++) {
          if (d === "F64") target[i] = dv.getFloat64(8 * i, true);
          else if (d === "F32") target[i] = dv.getFloat32(4 * i, true);
          else if (d === "BF16") target[i] = new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0];
          else {
            const h = dv.getUint16(2 * i, true), e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
            target[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1024 + m) * 2 ** (e - 25);
          }
        }
      };
      dec(d1, v1, a);
      dec(d0, v0, b);
      const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
      let overflows = 0;
      for (let i = 0; i < n; i++) {
        const r = a[i] + 0.5 * (a[i] - b[i]);
        if (dout === "F64") expect(Object.is(dv.getFloat64(8 * i, true), r)).toBe(true);
        else if (dout === "F32") expect(dv.getUint32(4 * i, true)).toBe(roundToFormat(r, F32) >>> 0);
        else {
          const want = roundToFormat(r, dout === "BF16" ? BF16 : F16);
          expect(hex(dv.getUint16(2 * i, true))).toBe(hex(want));
          if (Number.isFinite(r) && (want & (dout === "BF16" ? 0x7f80 : 0x7c00)) === (dout === "BF16" ? 0x7f80 : 0x7c00)) overflows++;
        }
      }
      expect(stats.overflows).toBe(overflows);
    });
  }
});

describe("fused f32 path", () => {
  // Edge values: ±0, subnormals, the largest finite f32 and its neighbours, ±Inf, NaN with
  // payloads, and values whose extrapolation overflows or rounds back to the largest finite.
  const MAX = 3.4028234663852886e38;
  const EDGE = [0, -0, 1e-45, -1e-45, 1.1754942e-38, MAX, -MAX, 3.4e38, 1e38, -2e38, Infinity, -Infinity, NaN, 1, -1, 0.1, 65504];
  function pairs(n: number, seed: number): [Uint8Array, Uint8Array] {
    const rand = mulberry32(seed);
    const a = new Float32Array(n), b = new Float32Array(n);
    const bitsA = new Uint32Array(a.buffer), bitsB = new Uint32Array(b.buffer);
    for (let i = 0; i < n; i++) {
      const k = rand();
      if (k < 0.6) {
        a[i] = (rand() - 0.5) * 0.1;
        b[i] = a[i] + (rand() - 0.5) * 1e-3;
      } else if (k < 0.8) {
        bitsA[i] = (rand() * 2 ** 32) >>> 0; // any bit pattern, NaN payloads included
        bitsB[i] = (rand() * 2 ** 32) >>> 0;
      } else {
        a[i] = EDGE[(rand() * EDGE.length) | 0];
        b[i] = rand() < 0.5 ? EDGE[(rand() * EDGE.length) | 0] : -a[i];
      }
    }
    return [new Uint8Array(a.buffer), new Uint8Array(b.buffer)];
  }

  for (const alpha of [0.3, 2, 10, -0.5]) {
    it(`gives the generic path's bytes and statistics, α = ${alpha} (100k random and edge pairs)`, () => {
      const [v1, v0] = pairs(100_000, 17 + alpha * 10);
      const fused = emptyStats(), generic = emptyStats();
      const ws1 = new ChunkWorkspace(1 << 17), ws2 = new ChunkWorkspace(1 << 17);
      const a = extrapolateF32(ws1, v1, v0, alpha, fused).slice();
      const b = extrapolateGeneric(ws2, v1, "F32", v0, "F32", "F32", alpha, generic).slice();
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(fused.nonFiniteInputs).toBe(generic.nonFiniteInputs);
      expect(fused.overflows).toBe(generic.overflows);
      expect(fused.nonFiniteInputs).toBeGreaterThan(0);
      if (alpha > 0) expect(fused.overflows).toBeGreaterThan(0); // θ1 − 0.5Δ lies between θ0 and θ1: it cannot overflow
      expect(Object.is(fused.sumDelta2, generic.sumDelta2)).toBe(true);
      expect(Object.is(fused.sumTheta0Sq, generic.sumTheta0Sq)).toBe(true);
      // NaN is written canonically whatever its payload in the inputs.
      const out = new Uint32Array(a.buffer);
      for (const w of out) if ((w & 0x7f800000) === 0x7f800000 && w & 0x7fffff) expect(w).toBe(0x7fc00000);
    });
  }

  for (const dtype0 of ["BF16", "F16"] as const) {
    it(`takes an f32 θ1 with a ${dtype0} θ0 (widened first) to the generic path's bytes and statistics`, () => {
      const [v1] = pairs(50_000, 5);
      const rand = mulberry32(6);
      const v0 = new Uint8Array(2 * 50_000);
      const h0 = new Uint16Array(v0.buffer);
      for (let i = 0; i < h0.length; i++) h0[i] = (rand() * 0x10000) & 0xffff; // any bits: NaN, Inf, subnormals included
      const fused = emptyStats(), generic = emptyStats();
      const a = extrapolateChunk(new ChunkWorkspace(1 << 16), v1, "F32", v0, dtype0, "F32", 0.3, fused).slice();
      const b = extrapolateGeneric(new ChunkWorkspace(1 << 16), v1, "F32", v0, dtype0, "F32", 0.3, generic).slice();
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(fused).toEqual(generic);
      expect(fused.nonFiniteInputs).toBeGreaterThan(0);
    });
  }

  it("sums Σ(θ1−θ0)² and Σθ0² exactly as the generic path on finite weights (f32 and bf16 θ0)", () => {
    const rand = mulberry32(8);
    const n = 50_000;
    const t1 = new Float32Array(n), t0 = new Float32Array(n), h0 = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      t0[i] = (rand() - 0.5) * 0.04;
      h0[i] = new Uint16Array(new Float32Array([t0[i]]).buffer)[1]; // bf16 by truncation: any bf16 will do
      t1[i] = t0[i] + (rand() - 0.5) * 1e-3;
    }
    const v1 = new Uint8Array(t1.buffer);
    for (const [v0, d0] of [[new Uint8Array(t0.buffer), "F32"], [new Uint8Array(h0.buffer), "BF16"]] as const) {
      const fused = emptyStats(), generic = emptyStats();
      extrapolateChunk(new ChunkWorkspace(n), v1, "F32", v0, d0, "F32", 0.3, fused);
      extrapolateGeneric(new ChunkWorkspace(n), v1, "F32", v0, d0, "F32", 0.3, generic);
      expect(Number.isFinite(fused.sumDelta2) && fused.sumDelta2 > 0).toBe(true);
      expect(fused.sumDelta2).toBe(generic.sumDelta2);
      expect(fused.sumTheta0Sq).toBe(generic.sumTheta0Sq);
    }
  });

  it("equals exact rounding of the double on unaligned chunks, through extrapolateChunk", () => {
    const [v1, v0] = pairs(4096, 99);
    const shifted = (v: Uint8Array) => {
      const buf = new Uint8Array(v.byteLength + 1);
      buf.set(v, 1);
      return buf.subarray(1);
    };
    const [u1, u0] = [shifted(v1), shifted(v0)];
    expect(u1.byteOffset % 4).toBe(1);
    const out = extrapolateChunk(new ChunkWorkspace(4096), u1, "F32", u0, "F32", "F32", 0.5, emptyStats());
    const a = new Float32Array(v1.buffer), b = new Float32Array(v0.buffer), o = new Uint32Array(out.slice().buffer);
    for (let i = 0; i < 4096; i++) {
      const r = a[i] + 0.5 * (a[i] - b[i]);
      expect(o[i]).toBe(r === r ? roundToFormat(r, F32) >>> 0 : 0x7fc00000);
    }
  });
});
