/**
 * Reads one file out of a zip archive in memory (GitHub serves Actions artifacts as zip):
 * the central directory gives each entry's method, sizes and offset; stored (0) and deflate
 * (8) entries are supported, which is all `actions/upload-artifact` writes. Sizes are
 * bounded so a hostile archive cannot inflate without limit.
 */
import * as zlib from "node:zlib";
import { inflateRawSync } from "node:zlib";

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipError";
  }
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export function listZip(buf: Uint8Array): ZipEntry[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
    if (b.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("not a zip archive (no end-of-central-directory record)");
  const count = b.readUInt16LE(eocd + 10);
  const cdSize = b.readUInt32LE(eocd + 12);
  let p = b.readUInt32LE(eocd + 16);
  if (p + cdSize > b.length) throw new ZipError("zip central directory out of bounds (zip64 archives are not supported)");
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== CEN_SIG) throw new ZipError(`zip central directory entry ${i} is corrupt`);
    const method = b.readUInt16LE(p + 10);
    const compressedSize = b.readUInt32LE(p + 20);
    const size = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    const localOffset = b.readUInt32LE(p + 42);
    const name = b.toString("utf8", p + 46, p + 46 + nameLen);
    entries.push({ name, method, compressedSize, size, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The bytes of entry `name` (exact path, or the last path component when unique). */
export function readZipEntry(buf: Uint8Array, name: string, maxBytes = 64 * 1024 * 1024): Buffer | null {
  const entries = listZip(buf);
  let e = entries.find((x) => x.name === name);
  if (!e) {
    const byBase = entries.filter((x) => x.name.split("/").pop() === name);
    if (byBase.length === 1) e = byBase[0];
  }
  if (!e) return null;
  if (e.size > maxBytes) throw new ZipError(`${e.name} is ${e.size} bytes; the limit is ${maxBytes}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const l = e.localOffset;
  if (l + 30 > b.length || b.readUInt32LE(l) !== LOC_SIG) throw new ZipError(`${e.name}: corrupt local header`);
  const start = l + 30 + b.readUInt16LE(l + 26) + b.readUInt16LE(l + 28);
  const end = start + e.compressedSize;
  if (end > b.length) throw new ZipError(`${e.name}: data out of bounds`);
  const data = b.subarray(start, end);
  let out: Buffer;
  if (e.method === 0) out = Buffer.from(data);
  else if (e.method === 8) out = inflateRawSync(data, { maxOutputLength: maxBytes });
  else throw new ZipError(`${e.name}: compression method ${e.method} is not supported`);
  if (out.length !== e.size) throw new ZipError(`${e.name}: inflated to ${out.length} bytes, expected ${e.size}`);
  return out;
}

/** Builds a zip (deflate) in memory; for tests and the in-process dispatcher. */
export function writeZip(files: Record<string, string | Uint8Array>): Buffer {
  const { deflateRawSync, crc32 } = zlibWrite();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === "string" ? Buffer.from(content) : Buffer.from(content);
    const comp = deflateRawSync(data);
    const nameBuf = Buffer.from(name);
    const crc = crc32(data);
    const loc = Buffer.alloc(30);
    loc.writeUInt32LE(LOC_SIG, 0);
    loc.writeUInt16LE(20, 4);
    loc.writeUInt16LE(8, 8);
    loc.writeUInt32LE(crc, 14);
    loc.writeUInt32LE(comp.length, 18);
    loc.writeUInt32LE(data.length, 22);
    loc.writeUInt16LE(nameBuf.length, 26);
    locals.push(loc, nameBuf, comp);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(CEN_SIG, 0);
    cen.writeUInt16LE(20, 4);
    cen.writeUInt16LE(20, 6);
    cen.writeUInt16LE(8, 10);
    cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(comp.length, 20);
    cen.writeUInt32LE(data.length, 24);
    cen.writeUInt16LE(nameBuf.length, 28);
    cen.writeUInt32LE(offset, 42);
    centrals.push(cen, nameBuf);
    offset += 30 + nameBuf.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD_SIG, 0);
  const n = Object.keys(files).length;
  end.writeUInt16LE(n, 8);
  end.writeUInt16LE(n, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

function zlibWrite(): { deflateRawSync: (b: Buffer) => Buffer; crc32: (b: Buffer) => number } {
  const z = zlib as unknown as { deflateRawSync: (b: Buffer) => Buffer; crc32?: (b: Buffer) => number };
  return { deflateRawSync: z.deflateRawSync, crc32: z.crc32 ?? crc32Fallback };
}

let CRC_TABLE: Uint32Array | null = null;
function crc32Fallback(b: Buffer): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const byte of b) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
