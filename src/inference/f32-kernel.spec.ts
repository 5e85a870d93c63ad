/**
 * The bf16 → float32 SIMD kernel gives the bits of the scalar definition: θ1 widened, or
 * fround(θ1 + α(θ1 − θ0)) from doubles — on random bits (all exponents, subnormals, ±0,
 * ±Inf, NaN, overflow) and on lengths that are not multiples of 8, θ1 longer than θ0 included.
 */
import { describe, expect, it } from "vitest";
import { mulberry32 as rng } from "../util/random.js";
import { Bf16ToF32Kernel } from "./f32-kernel.js";

const EDGES = [0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0x3f80, 0xbf80, 0x3f81, 0x4000];

function bf16Values(n: number, random: () => number, near?: Uint16Array): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.05) out[i] = EDGES[Math.floor(random() * EDGES.length)];
    else if (near && r < 0.6) out[i] = near[i] + Math.floor(random() * 9) - 4; // a small Δ, as between real checkpoints
    else out[i] = Math.floor(random() * 65536);
  }
  return out;
}

const f32 = (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];

function reference(theta1: Uint16Array, theta0: Uint16Array, alpha: number): Float32Array {
  const out = new Float32Array(theta1.length);
  for (let i = 0; i < theta1.length; i++) {
    const a = f32(theta1[i]);
    out[i] = i < theta0.length ? a + alpha * (a - f32(theta0[i])) : a;
  }
  return out;
}

function expectSameBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let mismatches = 0;
  for (let i = 0; i < got.length; i++) {
    const bothNaN = Number.isNaN(got[i]) && Number.isNaN(want[i]);
    if (!bothNaN && g[i] !== w[i]) mismatches++;
  }
  expect(mismatches).toBe(0);
}

describe("Bf16ToF32Kernel", () => {
  const kernel = new Bf16ToF32Kernel(1 << 16);

  function run(theta1: Uint16Array, theta0: Uint16Array, alpha: number, slot: number): Float32Array {
    kernel.input(slot, 0, theta1.byteLength).set(new Uint8Array(theta1.buffer));
    kernel.input(slot, 1, theta0.byteLength).set(new Uint8Array(theta0.buffer));
    return kernel.run(slot, theta1.length, theta0.length, alpha).slice();
  }

  it("widens bf16 exactly", () => {
    const random = rng(1);
    for (const n of [1, 7, 8, 9, 65_536]) {
      const theta1 = bf16Values(n, random);
      expectSameBits(run(theta1, new Uint16Array(0), 0.5, n % 2), reference(theta1, new Uint16Array(0), 0.5));
    }
  });

  it("rounds θ1 + α(θ1 − θ0) once to float32, bit for bit with the scalar definition", () => {
    const random = rng(2);
    for (const alpha of [0, 0.5, 1, 2.75, -0.3, 1e-3, 3e38]) {
      for (const n of [5, 8, 61, 65_536]) {
        const theta1 = bf16Values(n, random);
        const theta0 = bf16Values(n, random, theta1);
        expectSameBits(run(theta1, theta0, alpha, 1), reference(theta1, theta0, alpha));
      }
    }
  });

  it("keeps θ1's values past θ0's length (a grown vocabulary), at any border", () => {
    const random = rng(3);
    for (const [n, paired] of [[64, 40], [64, 43], [100, 1], [17, 16], [9, 0]]) {
      const theta1 = bf16Values(n, random);
      const theta0 = bf16Values(paired, random, theta1);
      expectSameBits(run(theta1, theta0, 1.5, 0), reference(theta1, theta0, 1.5));
    }
  });

  it("refuses more values than it holds", () => {
    expect(() => kernel.input(0, 0, 2 * (kernel.capacity + 8))).toThrow(/capacity/);
  });
});
