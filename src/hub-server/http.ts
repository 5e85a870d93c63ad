/**
 * HTTP plumbing shared by the local Hub's route families: the request context, answers (with
 * the compression huggingface.co applies), errors, request bodies (buffered or streamed to
 * disk) and `Range` parsing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import { createWriteStream, rmSync } from "node:fs";
import { brotliCompressSync, constants as zlibConstants, gzipSync } from "node:zlib";
import type { FaultSpec, RequestRecord } from "./types.js";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ActiveFault extends FaultSpec {
  remaining: number;
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  base: string;
  user?: string;
  token?: string;
  truncateFault?: ActiveFault;
  record: RequestRecord;
  /** Compress JSON/text answers when the request accepts it (the real-Hub behaviour switch). */
  compress: boolean;
}

/** Answers smaller than this go uncompressed, as on the Hub's front end. */
const COMPRESS_MIN_BYTES = 64;

/** The encoding to use for this request: br when accepted, else gzip, else none. */
export function pickEncoding(acceptEncoding: string | undefined): "br" | "gzip" | undefined {
  if (!acceptEncoding) return undefined;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)).find(Boolean);
    if (name) accepted.set(name, q ? Number(q[1]) : 1);
  }
  if ((accepted.get("br") ?? 0) > 0) return "br";
  if ((accepted.get("gzip") ?? 0) > 0) return "gzip";
  return undefined;
}

function compressible(headers: Record<string, string | number>): boolean {
  const type = String(headers["Content-Type"] ?? "");
  return !("Content-Range" in headers) && /json|^text\//.test(type);
}

export function send(ctx: Ctx, status: number, headers: Record<string, string | number>, body?: Uint8Array | string): void {
  const { res } = ctx;
  let data = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  ctx.record.status = status;
  const encoding = ctx.compress && data !== undefined && data.byteLength >= COMPRESS_MIN_BYTES && compressible(headers) ? pickEncoding(ctx.req.headers["accept-encoding"]) : undefined;
  if (encoding && data) {
    // Content-Length is then the compressed size, which HTTP allows and CDNs send.
    data = encoding === "br" ? brotliCompressSync(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } }) : gzipSync(data);
    headers = { ...headers, "Content-Encoding": encoding, Vary: "Accept-Encoding", "Content-Length": data.byteLength };
    ctx.record.encoding = encoding;
  }
  if (data !== undefined && !("Content-Length" in headers)) headers["Content-Length"] = data.byteLength;
  res.writeHead(status, headers);
  if (ctx.req.method === "HEAD" || data === undefined) {
    res.end();
    return;
  }
  const cut = ctx.truncateFault;
  if (cut && cut.remaining > 0 && cut.truncateAfter! < data.byteLength) {
    cut.remaining--;
    const part = data.subarray(0, cut.truncateAfter);
    ctx.record.bytes = part.byteLength;
    // Close gracefully (FIN, not RST) and a little later, so that the client has consumed
    // the part that was sent before its body stream errors (an errored web stream drops
    // its queued chunks, which would make what a test sees arrive depend on timing).
    res.write(part, () => {
      setTimeout(() => res.socket?.end(), 50);
    });
    return;
  }
  ctx.record.bytes = data.byteLength;
  res.end(data);
}

export function sendJson(ctx: Ctx, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(ctx, status, { "Content-Type": "application/json; charset=utf-8", ...headers }, JSON.stringify(value));
}

export function sendError(ctx: Ctx, err: HttpError): void {
  const headers: Record<string, string> = { ...err.headers, "X-Error-Message": err.message.replace(/[^\x20-\x7e]/g, "?") };
  if (err.code) headers["X-Error-Code"] = err.code;
  if (ctx.req.method === "HEAD") send(ctx, err.status, { ...headers, "Content-Type": "text/plain" });
  else sendJson(ctx, err.status, { error: err.message }, headers);
}

/** A redirect answer (302 to the CDN, 307 for a renamed repo). */
export function redirect(ctx: Ctx, status: 302 | 307, location: string, headers: Record<string, string | number> = {}): void {
  ctx.req.resume();
  send(ctx, status, { ...headers, Location: location, "Content-Length": 0 });
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A single `bytes=` range → inclusive [start, end], or null when unsatisfiable. */
export function parseRange(header: string, size: number): [number, number] | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return [start, end];
}

/** Cap on JSON and NDJSON bodies held in memory (file contents are streamed to disk instead). */
const MAX_BUFFERED_BODY = 256 * 1024 * 1024;

export function readBody(req: IncomingMessage, maxBytes = MAX_BUFFERED_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (c: Buffer) => {
      total += c.byteLength;
      if (total > maxBytes) {
        reject(new HttpError(413, "Payload too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString("utf8") || "{}");
  } catch {
    throw new HttpError(400, "Invalid JSON body");
  }
}

/**
 * Streams a request body to `path` while hashing it, so an upload of any size costs no more
 * memory than one chunk. Removes the file when the body fails or exceeds `maxBytes`.
 */
export function streamBodyToFile(req: IncomingMessage, path: string, maxBytes: number): Promise<{ size: number; sha256: string; md5: string }> {
  return new Promise((resolve, reject) => {
    const sha = createHash("sha256");
    const md5 = createHash("md5");
    const out = createWriteStream(path);
    let size = 0;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      out.destroy();
      rmSync(path, { force: true });
      reject(err);
    };
    req.on("data", (c: Buffer) => {
      size += c.byteLength;
      if (size > maxBytes) {
        fail(new HttpError(413, `Upload larger than the ${maxBytes} bytes announced`));
        req.destroy();
        return;
      }
      sha.update(c);
      md5.update(c);
      if (!out.write(c)) {
        req.pause();
        out.once("drain", () => req.resume());
      }
    });
    req.on("error", fail);
    out.on("error", fail);
    req.on("end", () => {
      if (failed) return;
      out.end(() => resolve({ size, sha256: sha.digest("hex"), md5: md5.digest("hex") }));
    });
  });
}
