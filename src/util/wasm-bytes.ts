/**
 * A few helpers to emit WebAssembly modules as bytes (no toolchain): LEB128 numbers,
 * sections, and the instructions the SIMD kernels use (src/expo/wasm-kernel.ts,
 * src/inference/f32-kernel.ts). Each helper returns the bytes of one construct.
 */

export const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
export const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, "utf8")];
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

// Instruction helpers (each returns bytes).
export const get = (i: number) => [0x20, ...uleb(i)];
export const set = (i: number) => [0x21, ...uleb(i)];
export const tee = (i: number) => [0x22, ...uleb(i)];
export const i32c = (v: number) => [0x41, ...sleb(v | 0)];
export const simd = (op: number) => [0xfd, ...uleb(op)];
export const v128c = (bytes: number[]) => [...simd(0x0c), ...bytes];
export const i32x4c = (v: number) => v128c([...new Uint8Array(new Uint32Array([v, v, v, v]).buffer)]);
export const i16x8c = (v: number) => v128c([...new Uint8Array(new Uint16Array([v, v, v, v, v, v, v, v]).buffer)]);
export const shuffle = (lanes: number[]) => [...simd(0x0d), ...lanes];
export const memarg = (align: number, offset = 0) => [...uleb(align), ...uleb(offset)];

/** SIMD opcodes used (after the 0xfd prefix). */
export const OP = {
  v128load: 0x00, v128store: 0x0b, f64x2splat: 0x14, f64x2extract: 0x21,
  i16x8eq: 0x2d, i32x4eq: 0x37, v128and: 0x4e, v128or: 0x50, anyTrue: 0x53,
  demote: 0x5e, promote: 0x5f, narrowU: 0x86, i32x4shrU: 0xad, i32x4add: 0xae, i32x4sub: 0xb1,
  f64x2abs: 0xec, f64x2lt: 0x49, f64x2gt: 0x4a,
  f64x2add: 0xf0, f64x2sub: 0xf1, f64x2mul: 0xf2,
} as const;

/** Byte lanes for `shuffle(zero, v)`: the low four u16 of v, each as the high half of a u32 (bf16 → f32 bits). */
export const INTERLEAVE_LOW = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
/** The same for the high four u16. */
export const INTERLEAVE_HIGH = INTERLEAVE_LOW.map((i) => i + 8);
