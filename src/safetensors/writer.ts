/**
 * Writing safetensors files the reference implementation accepts: header JSON padded with
 * spaces so the data starts at a multiple of 8, tensors contiguous, ordered as the reference
 * serializer orders them (by dtype alignment, largest first, then by name) so that every
 * tensor stays aligned to its element size.
 *
 * Streaming: the header is computed from the tensor list up front, then each tensor's bytes
 * are produced (in as many chunks as the producer likes) and appended. The file is written
 * under a temporary name and renamed into place when complete.
 */
import { open, rename, rm } from "node:fs/promises";
import { DTYPE_BYTES, type Dtype } from "./dtype.js";
import { numelOf } from "./header.js";
import { temporarySibling } from "../util/atomic.js";

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export function tensorByteLength(spec: { dtype: Dtype; shape: readonly number[] }): number {
  return numelOf(spec.shape) * DTYPE_BYTES[spec.dtype];
}

/** The reference serializer's order: alignment descending, then name. */
export function orderForWriting<T extends TensorSpec>(specs: readonly T[]): T[] {
  return [...specs].sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Header bytes (length prefix + padded JSON) for tensors in the given order. */
export function buildHeader(ordered: readonly TensorSpec[], metadata?: Record<string, string>): { bytes: Uint8Array; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of ordered) {
    if (t.name === "__metadata__") throw new Error(`tensor name "__metadata__" is reserved`);
    if (seen.has(t.name)) throw new Error(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const n = tensorByteLength(t);
    // defineProperty: a tensor called "__proto__" must become a key, not a prototype.
    Object.defineProperty(json, t.name, { value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] }, enumerable: true, configurable: true, writable: true });
    offset += n;
  }
  let text = JSON.stringify(json);
  const padded = Math.ceil((Buffer.byteLength(text) + 8) / 8) * 8 - 8;
  text += " ".repeat(padded - Buffer.byteLength(text));
  const body = Buffer.from(text, "utf8");
  const bytes = new Uint8Array(8 + body.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  bytes.set(body, 8);
  return { bytes, dataBytes: offset };
}

/** Produces a tensor's bytes: yields chunks whose lengths add up to the tensor's byte length. */
export type TensorProducer = (spec: TensorSpec) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface WriteResult {
  path: string;
  bytes: number;
  tensors: TensorSpec[];
}

/**
 * Streams a safetensors file to `path` (atomically). `produce` is called once per tensor in
 * file order.
 */
export async function writeSafetensors(
  path: string,
  specs: readonly TensorSpec[],
  produce: TensorProducer,
  options: { metadata?: Record<string, string> } = {},
): Promise<WriteResult> {
  const ordered = orderForWriting(specs);
  const header = buildHeader(ordered, options.metadata);
  const tmp = temporarySibling(path);
  const fh = await open(tmp, "w");
  let position = 0;
  try {
    await fh.write(header.bytes, 0, header.bytes.byteLength, position);
    position += header.bytes.byteLength;
    for (const spec of ordered) {
      const expected = tensorByteLength(spec);
      let written = 0;
      for await (const chunk of produce(spec)) {
        if (written + chunk.byteLength > expected) throw new Error(`producer for "${spec.name}" gave more than its ${expected} bytes`);
        await fh.write(chunk, 0, chunk.byteLength, position);
        position += chunk.byteLength;
        written += chunk.byteLength;
      }
      if (written !== expected) throw new Error(`producer for "${spec.name}" gave ${written} bytes, expected ${expected}`);
    }
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  return { path, bytes: position, tensors: ordered };
}

/** In-memory serialization (tests, tiny models). */
export function serializeSafetensors(tensors: ReadonlyArray<TensorSpec & { data: Uint8Array }>, metadata?: Record<string, string>): Uint8Array {
  const ordered = orderForWriting(tensors);
  const header = buildHeader(ordered, metadata);
  const out = new Uint8Array(header.bytes.byteLength + header.dataBytes);
  out.set(header.bytes, 0);
  let pos = header.bytes.byteLength;
  for (const t of ordered) {
    if (t.data.byteLength !== tensorByteLength(t)) throw new Error(`tensor "${t.name}": ${t.data.byteLength} bytes given, ${tensorByteLength(t)} expected`);
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}
