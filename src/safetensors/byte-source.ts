/**
 * Where tensor bytes come from. Tensor code reads only through this interface; the local
 * file implementation lives here, the HTTP range implementation in src/hub/ (the design's
 * rule: tensor code never opens a socket itself).
 */
import { open, type FileHandle } from "node:fs/promises";

export interface ByteSource {
  /** For messages: a path or URL. */
  readonly name: string;
  /** Total size in bytes. */
  size(): Promise<number>;
  /** Exactly `length` bytes from `offset`; fails if fewer are available. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export class FileByteSource implements ByteSource {
  private handle: Promise<FileHandle> | null = null;
  private cachedSize: number | null = null;
  /** Counters, for reports of bytes and reads used. */
  bytesRead = 0;
  reads = 0;

  constructor(readonly name: string) {}

  private file(): Promise<FileHandle> {
    this.handle ??= open(this.name, "r");
    return this.handle;
  }

  async size(): Promise<number> {
    if (this.cachedSize === null) this.cachedSize = (await (await this.file()).stat()).size;
    return this.cachedSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.readInto(new Uint8Array(length), offset);
  }

  /** Fills `target` from `offset` (lets hot loops reuse one buffer). */
  async readInto(target: Uint8Array, offset: number): Promise<Uint8Array> {
    const fh = await this.file();
    let done = 0;
    while (done < target.byteLength) {
      const { bytesRead } = await fh.read(target, done, target.byteLength - done, offset + done);
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at byte ${offset + done} (wanted ${target.byteLength} bytes from ${offset})`);
      done += bytesRead;
    }
    this.bytesRead += target.byteLength;
    this.reads++;
    return target;
  }

  async close(): Promise<void> {
    if (this.handle) {
      const h = this.handle;
      this.handle = null;
      await (await h).close();
    }
  }
}
