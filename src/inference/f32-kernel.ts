/**
 * The weight store's fast path for bf16 checkpoints: a WebAssembly SIMD kernel (emitted
 * from bytes, like src/expo/wasm-kernel.ts) that writes float32 weights
 *
 * - `widen`:   w = θ1, bf16 → float32 (exact: the bits shifted into the high half);
 * - `combine`: w = θ1 + α(θ1 − θ0) from bf16 θ1 and θ0, in double precision and rounded
 *   once to float32 — the same IEEE operations in the same order as the JavaScript
 *   definition (`a1 + alpha * (a1 - a0)` stored into a Float32Array): bf16 → f32 → f64 are
 *   exact, WebAssembly has no implicit FMA or excess precision, and f32x4.demote_f64x2_zero
 *   rounds to nearest even as a Float32Array store does. So the bits equal the scalar path's
 *   (src/inference/f32-kernel.spec.ts checks it on random and edge values), NaN payloads aside.
 *
 * Eight values per iteration. The kernel owns its memory: two read slots (θ1 and θ0 bytes,
 * read from the files straight into them, one slot filling while the other is converted)
 * and one float32 output, copied into the weight with one `set` (a memcpy).
 */
import {
  F64, I32, INTERLEAVE_HIGH, INTERLEAVE_LOW, OP, V128, get, i32c, memarg, section, set, shuffle, simd, str, uleb, v128c, vec,
} from "../util/wasm-bytes.js";

const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const LOWS64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

const loop = (counter: number, body: number[]) => [
  0x02, 0x40, 0x03, 0x40,
  ...get(counter), 0x45, 0x0d, 1,
  ...body,
  ...get(counter), ...i32c(1), 0x6b, ...set(counter),
  0x0c, 0,
  0x0b, 0x0b,
];
const bump = (p: number, by: number) => [...get(p), ...i32c(by), 0x6a, ...set(p)];
const store = (po: number, offset: number, value: number[]) => [...get(po), ...value, ...simd(OP.v128store), ...memarg(0, offset)];

/** widen(pa, po, nblk): 8 bf16 at pa → 8 float32 at po, nblk times. */
function widenFunction(): number[] {
  const [pa, po, nblk, v, zero] = [0, 1, 2, 3, 4];
  const body = [
    ...v128c(new Array(16).fill(0)), ...set(zero),
    ...loop(nblk, [
      ...get(pa), ...simd(OP.v128load), ...memarg(0), ...set(v),
      ...store(po, 0, [...get(zero), ...get(v), ...shuffle(INTERLEAVE_LOW)]),
      ...store(po, 16, [...get(zero), ...get(v), ...shuffle(INTERLEAVE_HIGH)]),
      ...bump(pa, 16), ...bump(po, 32),
    ]),
    0x0b,
  ];
  const code = [...vec([[2, V128]]), ...body];
  return [...uleb(code.length), ...code];
}

/** combine(pa, pb, po, nblk, alpha): 8 values of fround(a + α(a − b)) from bf16 a at pa, b at pb, to float32 at po. */
function combineFunction(): number[] {
  const [pa, pb, po, nblk, alpha] = [0, 1, 2, 3, 4];
  let next = 5;
  const L = () => next++;
  const valpha = L(), zero = L(), va = L(), vb = L(), aLo = L(), aHi = L(), bLo = L(), bHi = L(), aj = L();
  const y = [L(), L(), L(), L()];
  const vlocals = next - 5;
  const widen = (src: number, lo: number, hi: number) => [
    ...get(zero), ...get(src), ...shuffle(INTERLEAVE_LOW), ...set(lo),
    ...get(zero), ...get(src), ...shuffle(INTERLEAVE_HIGH), ...set(hi),
  ];
  // Values 2j, 2j+1 as f64x2.
  const pairOf = (lo: number, hi: number, j: number) => {
    const src = j < 2 ? lo : hi;
    return j % 2 === 0 ? [...get(src), ...simd(OP.promote)] : [...get(src), ...get(src), ...shuffle(HIGH_TO_LOW), ...simd(OP.promote)];
  };
  const pair = (j: number) => [
    ...pairOf(aLo, aHi, j), ...set(aj),
    // a + α·(a − b), then one rounding to float32
    ...get(aj), ...get(valpha), ...get(aj), ...pairOf(bLo, bHi, j), ...simd(OP.f64x2sub), ...simd(OP.f64x2mul), ...simd(OP.f64x2add),
    ...simd(OP.demote), ...set(y[j]),
  ];
  const body = [
    ...get(alpha), ...simd(OP.f64x2splat), ...set(valpha),
    ...v128c(new Array(16).fill(0)), ...set(zero),
    ...loop(nblk, [
      ...get(pa), ...simd(OP.v128load), ...memarg(0), ...set(va),
      ...get(pb), ...simd(OP.v128load), ...memarg(0), ...set(vb),
      ...widen(va, aLo, aHi), ...widen(vb, bLo, bHi),
      ...pair(0), ...pair(1), ...pair(2), ...pair(3),
      ...store(po, 0, [...get(y[0]), ...get(y[1]), ...shuffle(LOWS64)]),
      ...store(po, 16, [...get(y[2]), ...get(y[3]), ...shuffle(LOWS64)]),
      ...bump(pa, 16), ...bump(pb, 16), ...bump(po, 32),
    ]),
    0x0b,
  ];
  const code = [...vec([[vlocals, V128]]), ...body];
  return [...uleb(code.length), ...code];
}

function moduleBytes(): Uint8Array {
  const typeWiden = [0x60, ...vec([[I32], [I32], [I32]]), 0];
  const typeCombine = [0x60, ...vec([[I32], [I32], [I32], [I32], [F64]]), 0];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([typeWiden, typeCombine])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...str("widen"), 0x00, 0], [...str("combine"), 0x00, 1]])),
    ...section(10, vec([widenFunction(), combineFunction()])),
  ]);
}

let compiled: WebAssembly.Module | null = null;

/**
 * One kernel instance and its memory: per read slot (two) θ1's and θ0's bf16 bytes for
 * `capacity` values, then `capacity` float32 outputs.
 */
export class Bf16ToF32Kernel {
  readonly capacity: number;
  private readonly widenFn: (pa: number, po: number, nblk: number) => void;
  private readonly combineFn: (pa: number, pb: number, po: number, nblk: number, alpha: number) => void;
  private readonly buffer: ArrayBuffer;
  private readonly outOffset: number;

  constructor(capacity: number) {
    this.capacity = Math.ceil(capacity / 8) * 8;
    this.outOffset = 8 * this.capacity; // 2 slots × (θ1 + θ0) × 2 bytes
    const memory = new WebAssembly.Memory({ initial: Math.ceil((this.outOffset + 4 * this.capacity) / 65536) });
    compiled ??= new WebAssembly.Module(moduleBytes() as Uint8Array<ArrayBuffer>);
    const exports = new WebAssembly.Instance(compiled, { env: { mem: memory } }).exports;
    this.widenFn = exports.widen as Bf16ToF32Kernel["widenFn"];
    this.combineFn = exports.combine as Bf16ToF32Kernel["combineFn"];
    this.buffer = memory.buffer;
  }

  private offset(slot: number, which: 0 | 1): number {
    return (2 * slot + which) * 2 * this.capacity;
  }

  /** Where θ1's (which 0) or θ0's (which 1) bf16 bytes of read slot `slot` go (up to `capacity` values). */
  input(slot: number, which: 0 | 1, bytes: number): Uint8Array {
    if (bytes > 2 * this.capacity) throw new RangeError(`kernel capacity ${this.capacity} < ${bytes / 2} values`);
    return new Uint8Array(this.buffer, this.offset(slot, which), bytes);
  }

  /**
   * Float32 of slot `slot`'s θ1 values [0, n): θ1 + α(θ1 − θ0) for the first `paired` of
   * them, θ1 for the rest. A view of the kernel's output (valid until the next call).
   */
  run(slot: number, n: number, paired: number, alpha: number): Float32Array {
    const pa = this.offset(slot, 0), pb = this.offset(slot, 1), po = this.outOffset;
    // Whole blocks of 8 (the memory is sized for it; values past n are never read back).
    if (paired === n) {
      this.combineFn(pa, pb, po, Math.ceil(n / 8), alpha);
    } else {
      // θ1 grew the vocabulary: its rows past θ0's are θ1's. A block straddling the border is widened, then its paired values redone here.
      const from = paired - (paired % 8);
      if (from > 0) this.combineFn(pa, pb, po, from / 8, alpha);
      this.widenFn(pa + 2 * from, po + 4 * from, Math.ceil((n - from) / 8));
      const a = new Uint16Array(this.buffer, pa, n), b = new Uint16Array(this.buffer, pb, paired), out = new Float32Array(this.buffer, po, n);
      for (let i = from; i < paired; i++) out[i] = bf16(a[i]) + alpha * (bf16(a[i]) - bf16(b[i]));
    }
    return new Float32Array(this.buffer, po, n);
  }
}

const bits32 = new Uint32Array(1);
const float32 = new Float32Array(bits32.buffer);
function bf16(h: number): number {
  bits32[0] = h << 16;
  return float32[0];
}
