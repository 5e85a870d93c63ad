/** Opening a safetensors file through a ByteSource and reading tensors or byte ranges of them. */
import { FileByteSource, type ByteSource } from "./byte-source.js";
import { parseHeader, parseHeaderLength, SafetensorsError, type SafetensorsHeader, type TensorInfo } from "./header.js";
import { DTYPE_BYTES } from "./dtype.js";

export class SafetensorsFile {
  constructor(
    readonly source: ByteSource,
    readonly header: SafetensorsHeader,
  ) {}

  get name(): string {
    return this.source.name;
  }

  tensorNames(): string[] {
    return [...this.header.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new Error(`${this.source.name}: no tensor named "${name}"`);
    return info;
  }

  /** Reads a whole tensor's raw little-endian bytes. */
  async readTensor(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return this.readTensorRange(name, 0, info.dataOffsets[1] - info.dataOffsets[0]);
  }

  /** Reads bytes [begin, end) of a tensor's data (for chunked streaming of big tensors). */
  async readTensorRange(name: string, begin: number, end: number): Promise<Uint8Array> {
    const info = this.info(name);
    const size = info.dataOffsets[1] - info.dataOffsets[0];
    if (begin < 0 || end > size || begin > end) throw new RangeError(`${this.source.name}: range [${begin}, ${end}) outside tensor "${name}" of ${size} bytes`);
    return this.source.read(this.header.dataStart + info.dataOffsets[0] + begin, end - begin);
  }

  /** Element count of a tensor. */
  numel(name: string): number {
    const info = this.info(name);
    return (info.dataOffsets[1] - info.dataOffsets[0]) / DTYPE_BYTES[info.dtype];
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/**
 * Reads and validates the header of a safetensors file. Two reads: the 8-byte length, then
 * the header itself.
 */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const size = await source.size();
  if (size < 8) throw new SafetensorsError(source.name, `file is ${size} bytes, too small for the 8-byte header length`);
  const prefix = await source.read(0, 8);
  const headerLength = parseHeaderLength(prefix, size, source.name);
  const json = await source.read(8, headerLength);
  return new SafetensorsFile(source, parseHeader(json, size, source.name));
}

export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const source = new FileByteSource(path);
  try {
    return await openSafetensors(source);
  } catch (err) {
    await source.close();
    throw err;
  }
}
