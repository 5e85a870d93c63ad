import { describe, expect, it } from "vitest";
import { decodeNpyFloat32, encodeNpyFloat32 } from "./npy.js";

describe("npy", () => {
  it("writes a v1.0 header numpy reads: magic, 64-byte aligned data, shape tuple", () => {
    const bytes = encodeNpyFloat32(Float32Array.from([1, -2.5, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")).toBe(true);
    expect(header.endsWith("\n")).toBe(true);
    expect(bytes.length).toBe(10 + headerLength + 24);
    const back = decodeNpyFloat32(bytes);
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.values)).toEqual([1, -2.5, 3, 4, 5, 6]);
  });
  it("writes 1-D shapes as (n,)", () => {
    const bytes = encodeNpyFloat32(new Float32Array(3), [3]);
    expect(new TextDecoder().decode(bytes.subarray(10, 80))).toContain("'shape': (3,)");
    expect(() => encodeNpyFloat32(new Float32Array(3), [2, 2])).toThrow(/holds 4 values/);
  });
});
