/**
 * HubByteSource: the HTTP range implementation of the project's ByteSource, so tensor code
 * (src/safetensors/) reads Hub files without opening a socket itself.
 *
 * Built on the library's `downloadFile(...)`, whose Blob answers `.slice(a, b).arrayBuffer()`
 * with one `Range: bytes=a-(b-1)` request. Pass `size` (and `etag`, e.g. from listRepoFiles)
 * to skip the size probe. `readAheadBytes` turns the first small read into one larger read
 * served from memory afterwards — a safetensors header is then one request, not two.
 */
import { downloadFile, type FileDownloadInfoOutput } from "@huggingface/hub";
import type { ByteSource } from "../safetensors/byte-source.js";
import type { HubClient } from "./client.js";
import { encodeRepoPath, resolveUrl } from "./resolve-url.js";
import { HubNotFoundError, HubTransferError, toHubError } from "./errors.js";

export interface HubByteSourceParams {
  client: HubClient;
  repo: string;
  path: string;
  /** Branch or commit; pin a commit sha so every read sees the same file. Default "main". */
  revision?: string;
  /** Known size in bytes (from a listing): saves the probe request. */
  size?: number;
  /** Known etag (git oid or LFS sha256); only used with `size`. */
  etag?: string;
  /** Bytes to fetch at once on a read from offset 0 (0 = exact reads only). */
  readAheadBytes?: number;
  /** Looks up size/etag lazily (e.g. from a shared listing) when `size` is not given. */
  lookup?: () => Promise<{ size: number; etag?: string } | undefined>;
}

export class HubByteSource implements ByteSource {
  readonly name: string;
  /** Bytes received by read(). */
  bytesRead = 0;
  /** HTTP requests made (probe included). */
  requests = 0;
  /** read() calls (the FileByteSource counter of the same name). */
  reads = 0;
  private blob: Promise<Blob> | null = null;
  private cache: { offset: number; data: Uint8Array } | null = null;

  constructor(private readonly params: HubByteSourceParams) {
    this.name = resolveUrl({ hubUrl: params.client.hubUrl, repo: params.repo, revision: params.revision, path: params.path });
  }

  private ctx() {
    return { op: "range read", repo: this.params.repo, revision: this.params.revision, path: this.params.path };
  }

  private getBlob(): Promise<Blob> {
    this.blob ??= (async () => {
      const { client, repo, path, revision } = this.params;
      let { size, etag } = this.params;
      if (size === undefined && this.params.lookup) {
        const found = await this.params.lookup();
        if (found) ({ size, etag } = found);
      }
      let downloadInfo: FileDownloadInfoOutput | undefined;
      if (size !== undefined) {
        downloadInfo = { size, etag: etag ?? "", url: this.name };
      } else this.requests++;
      try {
        const blob = await downloadFile({ ...client.credentials(), repo, path: encodeRepoPath(path), revision, xet: false, downloadInfo });
        if (!blob) throw new HubNotFoundError(`range read: ${repo}${revision ? `@${revision}` : ""} has no file "${path}"`, { status: 404, ctx: this.ctx(), code: "EntryNotFound" });
        return blob;
      } catch (err) {
        throw toHubError(err, this.ctx(), client.errorHeaders);
      }
    })().catch((err: unknown) => {
      this.blob = null;
      throw err;
    });
    return this.blob;
  }

  async size(): Promise<number> {
    if (this.params.size !== undefined) return this.params.size;
    return (await this.getBlob()).size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    if (length === 0) return new Uint8Array(0);
    const c = this.cache;
    if (c && offset >= c.offset && offset + length <= c.offset + c.data.byteLength) {
      return c.data.slice(offset - c.offset, offset - c.offset + length);
    }
    const blob = await this.getBlob();
    const size = blob.size;
    if (offset < 0 || offset + length > size) {
      throw new HubTransferError(`range read: ${this.params.repo} file "${this.params.path}": bytes [${offset}, ${offset + length}) outside the ${size}-byte file`, { ctx: this.ctx() });
    }
    const ahead = this.params.readAheadBytes ?? 0;
    const fetchLength = offset === 0 && ahead > length ? Math.min(ahead, size) : length;
    let data: Uint8Array;
    try {
      this.requests++;
      data = new Uint8Array(await blob.slice(offset, offset + fetchLength).arrayBuffer());
    } catch (err) {
      throw toHubError(err, this.ctx(), this.params.client.errorHeaders);
    }
    if (data.byteLength !== fetchLength) {
      throw new HubTransferError(`range read: ${this.params.repo} file "${this.params.path}": got ${data.byteLength} bytes for [${offset}, ${offset + fetchLength}), expected ${fetchLength}`, { ctx: this.ctx() });
    }
    this.bytesRead += data.byteLength;
    if (fetchLength > length) {
      this.cache = { offset, data };
      return data.slice(0, length);
    }
    return data;
  }

  async close(): Promise<void> {
    this.cache = null;
    this.blob = null;
  }
}
