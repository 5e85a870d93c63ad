/**
 * The bf16 fast path: a WebAssembly SIMD kernel, emitted from bytes here (no toolchain),
 * that computes θ2 = θ1 + α(θ1 − θ0) for bf16 inputs and a bf16 output with exactly the
 * reference semantics of src/safetensors/codec.ts: each value in double precision, then one
 * rounding to bf16 (round-to-odd float32 → round-to-nearest-even bf16), NaN → 0x7fc0.
 *
 * Why the vector path equals the reference (checked by src/expo/kernel.spec.ts on millions
 * of random and edge inputs):
 *  - bf16 → f32 is exact (a shift) and f32 → f64 is exact (f64x2.promote_low_f32x4);
 *  - d = a − b, r = a + α·d are the same IEEE double operations JavaScript does, in the
 *    same order (WebAssembly has no implicit FMA or excess precision);
 *  - y = f32x4.demote_f64x2_zero(r) is r rounded to nearest even f32. Rounding is monotonic
 *    and every bf16 value and every bf16 rounding midpoint is an f32, so RNE_bf16(y) equals
 *    RNE_bf16(r) unless y lands exactly on a bf16 midpoint (low 16 bits 0x8000) while y ≠ r
 *    (then double rounding could go the wrong way). Blocks with any such candidate lane, or
 *    with a non-finite input or output, are redone by the scalar function `fix`, which is
 *    the reference algorithm itself (round-to-odd f32, then RNE) and also counts them.
 *
 * Memory layout: bytes [0, 64) hold the statistics the kernels accumulate:
 *   i32 @0 non-finite inputs (elements where θ0 or θ1 is NaN/±Inf), i32 @4 overflows
 *   (finite inputs, non-finite output), f64 @8 Σ(θ1−θ0)², f64 @16 Σθ0² (NaN once an input is).
 */

import {
  F64, I32, INTERLEAVE_HIGH, INTERLEAVE_LOW, OP, V128, get, i16x8c, i32c, i32x4c, memarg, section, set, shuffle, simd, str, tee, uleb, v128c, vec,
} from "../util/wasm-bytes.js";

/**
 * fix(pa, pb, po, n, alpha, stats): the scalar reference for n elements; stats ≠ 0 also
 * accumulates the sums (the vector loop has already done so for the blocks it hands over).
 */
function fixFunction(): number[] {
  // params: 0 pa, 1 pb, 2 po, 3 n, 4 alpha(f64), 5 stats(i32)
  // locals: 6 ha, 7 hb, 8 ybits, 9 h, 10 nonfinite (i32); 11 a, 12 b, 13 d, 14 r, 15 py (f64)
  const [pa, pb, po, n, alpha, withStats, ha, hb, ybits, h, nonfin, a, b, d, r, py] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const loadBf16AsF64 = (p: number, hLocal: number, fLocal: number) => [
    ...get(p), 0x2f, ...memarg(1), ...tee(hLocal), ...i32c(16), 0x74, 0xbe, 0xbb, ...set(fLocal),
  ];
  const isNonFinite16 = (hLocal: number) => [...get(hLocal), ...i32c(0x7f80), 0x71, ...i32c(0x7f80), 0x46];
  const addF64At = (addr: number, value: number[]) => [...i32c(0), ...i32c(0), 0x2b, ...memarg(3, addr), ...value, 0xa0, 0x39, ...memarg(3, addr)];
  const addI32At = (addr: number) => [...i32c(0), ...i32c(0), 0x28, ...memarg(2, addr), ...i32c(1), 0x6a, 0x36, ...memarg(2, addr)];
  const body = [
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(n), 0x45, 0x0d, 1, // n == 0 → exit
    ...loadBf16AsF64(pa, ha, a),
    ...loadBf16AsF64(pb, hb, b),
    ...get(a), ...get(b), 0xa1, ...set(d),
    ...get(a), ...get(alpha), ...get(d), 0xa2, 0xa0, ...set(r),
    ...isNonFinite16(ha), ...isNonFinite16(hb), 0x72, ...set(nonfin),
    ...get(nonfin), 0x04, 0x40, ...addI32At(0), 0x0b,
    ...get(withStats), 0x04, 0x40,
    ...addF64At(8, [...get(d), ...get(d), 0xa2]),
    ...addF64At(16, [...get(b), ...get(b), 0xa2]),
    0x0b,
    // h = NaN ? 0x7fc0 : RNE_bf16(round_to_odd_f32(r))
    ...get(r), ...get(r), 0x62, 0x04, 0x40,
    ...i32c(0x7fc0), ...set(h),
    0x05,
    ...get(r), 0xb6, 0xbc, ...set(ybits),
    ...get(ybits), 0xbe, 0xbb, ...set(py),
    // inexact and even → step one ulp towards r
    ...get(py), ...get(r), 0x62, ...get(ybits), ...i32c(1), 0x71, 0x45, 0x71, 0x04, 0x40,
    ...get(ybits), ...i32c(-1), ...i32c(1), ...get(py), 0x99, ...get(r), 0x99, 0x64, 0x1b, 0x6a, ...set(ybits),
    0x0b,
    ...get(ybits), ...i32c(0x7fff), 0x6a, ...get(ybits), ...i32c(16), 0x76, ...i32c(1), 0x71, 0x6a, ...i32c(16), 0x76, ...set(h),
    0x0b,
    // overflow: finite inputs, non-finite output
    ...get(nonfin), 0x45, ...isNonFinite16(h), 0x71, 0x04, 0x40, ...addI32At(4), 0x0b,
    ...get(po), ...get(h), 0x3b, ...memarg(1),
    ...get(pa), ...i32c(2), 0x6a, ...set(pa),
    ...get(pb), ...i32c(2), 0x6a, ...set(pb),
    ...get(po), ...i32c(2), 0x6a, ...set(po),
    ...get(n), ...i32c(1), 0x6b, ...set(n),
    0x0c, 0, // br loop
    0x0b, 0x0b, // end loop, end block
    0x0b, // end function
  ];
  const locals = vec([[5, I32], [5, F64]]);
  const code = [...locals, ...body];
  return [...uleb(code.length), ...code];
}

/** vec(pa, pb, po, nblocks, alpha): eight elements per iteration. */
function vectorFunction(fixIndex: number): number[] {
  // params 0 pa, 1 pb, 2 po, 3 nblk (i32), 4 alpha (f64); the rest are v128 locals.
  const [pa, pb, po, nblk, alpha] = [0, 1, 2, 3, 4];
  let next = 5;
  const L = () => next++;
  const valpha = L(), zero = L(), cOne = L(), c7fff = L(), cFfff = L(), c8000 = L(), c7f80 = L();
  const va = L(), vb = L(), aLo = L(), aHi = L(), bLo = L(), bHi = L();
  const aj = L(), bj = L(), dj = L(), rj = L(), pyj = L();
  const y = [L(), L(), L(), L()], up = [L(), L(), L(), L()], dn = [L(), L(), L(), L()];
  const Y = [L(), L()], UP = [L(), L()], DN = [L(), L()], T = [L(), L()], H = [L(), L()];
  const out = L(), sd = L(), sb = L();
  const vlocals = next - 5;

  const highToLow = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
  const lows64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  const lows32of64 = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
  const half = (src: number, lo: number, hi: number) => [
    ...get(zero), ...get(src), ...shuffle(INTERLEAVE_LOW), ...set(lo),
    ...get(zero), ...get(src), ...shuffle(INTERLEAVE_HIGH), ...set(hi),
  ];
  // Pair j: elements 2j, 2j+1 as f64x2.
  const pairOf = (lo: number, hi: number, j: number) => {
    const src = j < 2 ? lo : hi;
    return j % 2 === 0 ? [...get(src), ...simd(OP.promote)] : [...get(src), ...get(src), ...shuffle(highToLow), ...simd(OP.promote)];
  };
  const pair = (j: number) => [
    ...pairOf(aLo, aHi, j), ...set(aj),
    ...pairOf(bLo, bHi, j), ...set(bj),
    ...get(aj), ...get(bj), ...simd(OP.f64x2sub), ...set(dj),
    ...get(sd), ...get(dj), ...get(dj), ...simd(OP.f64x2mul), ...simd(OP.f64x2add), ...set(sd),
    ...get(sb), ...get(bj), ...get(bj), ...simd(OP.f64x2mul), ...simd(OP.f64x2add), ...set(sb),
    ...get(aj), ...get(valpha), ...get(dj), ...simd(OP.f64x2mul), ...simd(OP.f64x2add), ...set(rj),
    // |r| vs |f64(f32(r))|: which way r lies from its float32 rounding (for the midpoint fix below)
    ...get(rj), ...simd(OP.demote), ...tee(y[j]), ...simd(OP.promote), ...simd(OP.f64x2abs), ...set(pyj),
    ...get(rj), ...simd(OP.f64x2abs), ...set(rj),
    ...get(rj), ...get(pyj), ...simd(OP.f64x2gt), ...set(up[j]),
    ...get(rj), ...get(pyj), ...simd(OP.f64x2lt), ...set(dn[j]),
  ];
  const merge = (k: number) => [
    ...get(y[2 * k]), ...get(y[2 * k + 1]), ...shuffle(lows64), ...set(Y[k]),
    ...get(up[2 * k]), ...get(up[2 * k + 1]), ...shuffle(lows32of64), ...set(UP[k]),
    ...get(dn[2 * k]), ...get(dn[2 * k + 1]), ...shuffle(lows32of64), ...set(DN[k]),
    // tie = (Y & 0xffff) == 0x8000: a bf16 midpoint; step one f32 ulp towards r if inexact
    ...get(Y[k]), ...get(cFfff), ...simd(OP.v128and), ...get(c8000), ...simd(OP.i32x4eq), ...set(T[k]),
    ...get(Y[k]), ...get(UP[k]), ...get(T[k]), ...simd(OP.v128and), ...simd(OP.i32x4sub),
    ...get(DN[k]), ...get(T[k]), ...simd(OP.v128and), ...simd(OP.i32x4add), ...set(Y[k]),
    // RNE to bf16: (Y + 0x7fff + ((Y >> 16) & 1)) >> 16
    ...get(Y[k]), ...get(c7fff), ...simd(OP.i32x4add),
    ...get(Y[k]), ...i32c(16), ...simd(OP.i32x4shrU), ...get(cOne), ...simd(OP.v128and), ...simd(OP.i32x4add),
    ...i32c(16), ...simd(OP.i32x4shrU), ...set(H[k]),
  ];
  const nonFinite16 = (v: number) => [...get(v), ...get(c7f80), ...simd(OP.v128and), ...get(c7f80), ...simd(OP.i16x8eq)];
  const sumLanesInto = (addr: number, v: number) => [
    ...i32c(0), ...i32c(0), 0x2b, ...memarg(3, addr),
    ...get(v), ...simd(OP.f64x2extract), 0, 0xa0, ...get(v), ...simd(OP.f64x2extract), 1, 0xa0,
    0x39, ...memarg(3, addr),
  ];
  const body = [
    ...get(alpha), ...simd(OP.f64x2splat), ...set(valpha),
    ...v128c(new Array(16).fill(0)), ...set(zero),
    ...i32x4c(1), ...set(cOne), ...i32x4c(0x7fff), ...set(c7fff), ...i32x4c(0xffff), ...set(cFfff), ...i32x4c(0x8000), ...set(c8000),
    ...i16x8c(0x7f80), ...set(c7f80),
    0x02, 0x40, 0x03, 0x40,
    ...get(nblk), 0x45, 0x0d, 1,
    ...get(pa), ...simd(OP.v128load), ...memarg(0), ...set(va),
    ...get(pb), ...simd(OP.v128load), ...memarg(0), ...set(vb),
    ...half(va, aLo, aHi), ...half(vb, bLo, bHi),
    ...pair(0), ...pair(1), ...pair(2), ...pair(3),
    ...merge(0), ...merge(1),
    ...get(H[0]), ...get(H[1]), ...simd(OP.narrowU), ...set(out),
    ...get(po), ...get(out), ...simd(OP.v128store), ...memarg(0),
    // anything non-finite (NaN/Inf inputs, overflow) → redo the block with the scalar reference, which counts it
    ...nonFinite16(va), ...nonFinite16(vb), ...simd(OP.v128or), ...nonFinite16(out), ...simd(OP.v128or),
    ...simd(OP.anyTrue),
    0x04, 0x40,
    ...get(pa), ...get(pb), ...get(po), ...i32c(8), ...get(alpha), ...i32c(0), 0x10, ...uleb(fixIndex),
    0x0b,
    ...get(pa), ...i32c(16), 0x6a, ...set(pa),
    ...get(pb), ...i32c(16), 0x6a, ...set(pb),
    ...get(po), ...i32c(16), 0x6a, ...set(po),
    ...get(nblk), ...i32c(1), 0x6b, ...set(nblk),
    0x0c, 0,
    0x0b, 0x0b,
    ...sumLanesInto(8, sd), ...sumLanesInto(16, sb),
    0x0b,
  ];
  const code = [...vec([[vlocals, V128]]), ...body];
  return [...uleb(code.length), ...code];
}

/** The module's bytes: imports memory env.mem; exports `fix` and `vec`. */
export function kernelModuleBytes(): Uint8Array {
  const typeFix = [0x60, ...vec([[I32], [I32], [I32], [I32], [F64], [I32]]), 0];
  const typeVec = [0x60, ...vec([[I32], [I32], [I32], [I32], [F64]]), 0];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([typeFix, typeVec])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...str("fix"), 0x00, 0], [...str("vec"), 0x00, 1]])),
    ...section(10, vec([fixFunction(), vectorFunction(0)])),
  ];
  return new Uint8Array(bytes);
}

let compiled: WebAssembly.Module | null = null;
export function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(kernelModuleBytes() as Uint8Array<ArrayBuffer>);
  return compiled;
}

export const STATS_BYTES = 64;

export interface KernelStats {
  nonFiniteInputs: number;
  overflows: number;
  sumDelta2: number;
  sumTheta0Sq: number;
}

/**
 * One instance of the kernel with its own memory: three buffers of `capacity` bf16 values
 * (θ1, θ0, out) after the statistics block.
 */
export class Bf16Kernel {
  readonly memory: WebAssembly.Memory;
  readonly capacity: number;
  readonly theta1: Uint8Array;
  readonly theta0: Uint8Array;
  readonly out: Uint8Array;
  private readonly fix: (pa: number, pb: number, po: number, n: number, alpha: number, stats: number) => void;
  private readonly vec: (pa: number, pb: number, po: number, nblk: number, alpha: number) => void;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(capacity: number, module: WebAssembly.Module = kernelModule()) {
    this.capacity = Math.ceil(capacity / 8) * 8;
    const bytes = STATS_BYTES + 3 * 2 * this.capacity;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    const instance = new WebAssembly.Instance(module, { env: { mem: this.memory } });
    this.fix = instance.exports.fix as Bf16Kernel["fix"];
    this.vec = instance.exports.vec as Bf16Kernel["vec"];
    const buf = this.memory.buffer;
    this.theta1 = new Uint8Array(buf, STATS_BYTES, 2 * this.capacity);
    this.theta0 = new Uint8Array(buf, STATS_BYTES + 2 * this.capacity, 2 * this.capacity);
    this.out = new Uint8Array(buf, STATS_BYTES + 4 * this.capacity, 2 * this.capacity);
    this.i32 = new Int32Array(buf, 0, 2);
    this.f64 = new Float64Array(buf, 8, 2);
  }

  /** Extrapolates the first n elements of the θ1/θ0 buffers into `out`. */
  run(n: number, alpha: number): void {
    if (n > this.capacity) throw new RangeError(`kernel capacity ${this.capacity} < ${n}`);
    const pa = STATS_BYTES, pb = STATS_BYTES + 2 * this.capacity, po = STATS_BYTES + 4 * this.capacity;
    const blocks = n >>> 3;
    if (blocks > 0) this.vec(pa, pb, po, blocks, alpha);
    const done = blocks * 8;
    if (done < n) this.fix(pa + 2 * done, pb + 2 * done, po + 2 * done, n - done, alpha, 1);
  }

  takeStats(): KernelStats {
    const s = { nonFiniteInputs: this.i32[0], overflows: this.i32[1], sumDelta2: this.f64[0], sumTheta0Sq: this.f64[1] };
    this.i32.fill(0);
    this.f64.fill(0);
    return s;
  }
}
