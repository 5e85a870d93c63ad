/**
 * safetensors header parsing and validation, as strict as the reference implementation
 * (huggingface/safetensors, `SafeTensors::read_metadata` and `Metadata::validate`):
 *
 * - 8-byte little-endian header length N, N ≤ 100,000,000, 8 + N ≤ file size;
 * - the header is UTF-8 JSON whose text starts with `{` (trailing spaces are padding);
 * - `__metadata__`, when present, maps strings to strings;
 * - every tensor has a known dtype, a shape of non-negative safe integers and exactly two
 *   data offsets; sorted by offset, tensors are contiguous from 0 with no gap or overlap;
 * - each tensor's byte length is numel × dtype size (overflow-checked);
 * - the data ends exactly at the end of the file.
 *
 * Every failure is a SafetensorsError naming the source and the offending tensor or field.
 */
import { DTYPE_BYTES, isDtype, type Dtype } from "./dtype.js";

export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** Offsets into the data section (after the header), [begin, end). */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Header length N from the first 8 bytes; the data section starts at 8 + N. */
  headerBytes: number;
  dataStart: number;
  /** Tensor name → info. A Map, so names like `__proto__` cannot reach object prototypes. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string> | null;
  /** Total bytes of tensor data. */
  dataBytes: number;
}

export class SafetensorsError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source}: invalid safetensors file: ${reason}`);
    this.name = "SafetensorsError";
  }
}

/** Reads the header length from the first 8 bytes, checking the bounds that need only it. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) throw new SafetensorsError(source, `file is ${fileSize} bytes, too small for the 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(source, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const len = Number(n);
  if (8 + len > fileSize) throw new SafetensorsError(source, `header length ${len} runs past the end of the ${fileSize}-byte file`);
  return len;
}

/**
 * Parses and validates a header. `headerJson` is the N bytes after the length prefix;
 * `fileSize` is the whole file's size (pass `null` to skip the end-of-file check, e.g.
 * when only the header was fetched and the size is unknown).
 */
export function parseHeader(headerJson: Uint8Array, fileSize: number | null, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerJson);
  } catch {
    throw new SafetensorsError(source, "header is not valid UTF-8");
  }
  if (!text.startsWith("{")) throw new SafetensorsError(source, "header does not start with '{'");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(source, `header is not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new SafetensorsError(source, "header is not a JSON object");

  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(value, source);
      continue;
    }
    tensors.set(name, parseTensorInfo(name, value, source));
  }

  // Contiguity: sorted by offsets, each begins where the previous ended.
  const sorted = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let end = 0;
  for (const [name, info] of sorted) {
    const [b, e] = info.dataOffsets;
    if (b !== end) {
      throw new SafetensorsError(source, b > end ? `gap before tensor "${name}": data_offsets begin at ${b}, previous data ends at ${end}` : `tensor "${name}" overlaps the previous tensor: data_offsets begin at ${b}, previous data ends at ${end}`);
    }
    if (e < b) throw new SafetensorsError(source, `tensor "${name}": data_offsets end ${e} is before begin ${b}`);
    const numel = checkedNumel(info.shape, name, source);
    const nbytes = numel * BigInt(DTYPE_BYTES[info.dtype]);
    if (nbytes !== BigInt(e - b)) {
      throw new SafetensorsError(source, `tensor "${name}": ${info.dtype} shape [${info.shape.join(", ")}] needs ${nbytes} bytes but data_offsets span ${e - b}`);
    }
    end = e;
  }
  const headerBytes = headerJson.byteLength;
  const dataStart = 8 + headerBytes;
  if (fileSize !== null && dataStart + end !== fileSize) {
    throw new SafetensorsError(source, `tensor data ends at byte ${dataStart + end} but the file has ${fileSize} bytes`);
  }
  return { headerBytes, dataStart, tensors, metadata, dataBytes: end };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new SafetensorsError(source, "__metadata__ is not an object of strings");
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== "string") throw new SafetensorsError(source, `__metadata__["${k}"] is a ${v === null ? "null" : typeof v}, not a string`);
    out[k] = v;
  }
  return out;
}

function parseTensorInfo(name: string, value: unknown, source: string): TensorInfo {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new SafetensorsError(source, `tensor "${name}" is not an object`);
  const v = value as Record<string, unknown>;
  if (!isDtype(v.dtype)) throw new SafetensorsError(source, `tensor "${name}" has unknown dtype ${JSON.stringify(v.dtype)}`);
  if (!Array.isArray(v.shape)) throw new SafetensorsError(source, `tensor "${name}" has no shape array`);
  for (const d of v.shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) throw new SafetensorsError(source, `tensor "${name}" has invalid dimension ${JSON.stringify(d)} in its shape`);
  }
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) throw new SafetensorsError(source, `tensor "${name}": data_offsets must be [begin, end]`);
  for (const o of offsets) {
    if (!Number.isSafeInteger(o) || (o as number) < 0) throw new SafetensorsError(source, `tensor "${name}" has invalid data offset ${JSON.stringify(o)}`);
  }
  return { dtype: v.dtype, shape: v.shape as number[], dataOffsets: [offsets[0] as number, offsets[1] as number] };
}

function checkedNumel(shape: number[], name: string, source: string): bigint {
  let n = 1n;
  for (const d of shape) {
    n *= BigInt(d);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new SafetensorsError(source, `tensor "${name}": element count of shape [${shape.join(", ")}] overflows`);
  }
  return n;
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
