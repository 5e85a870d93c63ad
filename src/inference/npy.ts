/**
 * NumPy .npy files (format version 1.0) for float32 arrays: what `--dump-logits` writes so
 * the numerics can be compared with numpy / PyTorch (`numpy.load`).
 *
 * Layout: the magic "\x93NUMPY", version 1.0, a little-endian uint16 header length, then an
 * ASCII Python dict literal padded with spaces and ended by "\n" so that the data starts at a
 * multiple of 64 bytes, then the C-order little-endian data.
 */

export function encodeNpyFloat32(values: Float32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length) throw new Error(`npy: shape [${shape.join(", ")}] holds ${count} values, got ${values.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  const total = Math.ceil((preamble + header.length + 1) / 64) * 64;
  header = header.padEnd(total - preamble - 1, " ") + "\n";
  if (header.length > 0xffff) throw new Error("npy: header too long for format 1.0");
  const out = new Uint8Array(total + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i);
  const data = new DataView(out.buffer, total);
  for (let i = 0; i < values.length; i++) data.setFloat32(i * 4, values[i], true);
  return out;
}

/** Reads a float32 .npy file written by encodeNpyFloat32 (or numpy, C order, '<f4'). */
export function decodeNpyFloat32(bytes: Uint8Array): { values: Float32Array; shape: number[] } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error("npy: bad magic");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = new TextDecoder().decode(bytes.subarray(major === 1 ? 10 : 12, start));
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`npy: not little-endian float32: ${header.trim()}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error("npy: Fortran order is not supported");
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) throw new Error(`npy: no shape in header: ${header.trim()}`);
  const shape = m[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(start + i * 4, true);
  return { values, shape };
}
