/**
 * File resolution: `resolve` (file bytes) and `raw` (git content, LFS pointers) with ranges,
 * ETags and the Hub's X-Linked-* / X-Repo-Commit headers. With CDN redirects on, `resolve` of
 * an LFS file answers 302 to a signed URL on the CDN host (cdn.ts), as huggingface.co sends
 * LFS and Xet-backed files to its CDN; the Xet file-info `Accept` header gets that same
 * answer, which is what the Hub gives for a file not stored in Xet and what makes
 * @huggingface/hub read it over plain HTTP ranges.
 */
import { createReadStream } from "node:fs";
import { HttpError, parseRange, redirect, send, type Ctx } from "./http.js";
import type { HubCore } from "./core.js";
import { signCdnPath } from "./cdn.js";
import { lfsPointer, type RepoState, type StoredFile } from "./store.js";

function contentType(path: string): string {
  if (path.endsWith(".json")) return "application/json";
  if (path.endsWith(".md") || path.endsWith(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

export function serveFile(core: HubCore, ctx: Ctx, repo: RepoState, rev: string, path: string, raw: boolean): void {
  const commit = core.resolveRev(repo, rev);
  const file = commit.files[path];
  if (!file) throw new HttpError(404, `Entry not found`, "EntryNotFound");
  core.checkGated(repo, ctx);
  const headers: Record<string, string | number> = {
    "Content-Type": contentType(path),
    "Accept-Ranges": "bytes",
    ETag: `"${file.lfs && !raw ? file.sha256 : file.gitOid}"`,
    "X-Repo-Commit": commit.oid,
  };
  if (file.lfs && !raw) {
    headers["X-Linked-Size"] = String(file.size);
    headers["X-Linked-ETag"] = `"${file.sha256}"`;
    if (core.settings.realHub.cdnRedirects && core.cdnUrl) {
      const signed = signCdnPath(file.sha256, path);
      if (core.cdnLegs.size > 10_000) core.cdnLegs.clear();
      core.cdnLegs.set(signed, { record: ctx.record, fault: ctx.truncateFault });
      ctx.record.redirected = true;
      redirect(ctx, 302, `${core.cdnUrl}${signed}`, headers);
      return;
    }
  }
  if (raw && file.lfs) {
    sendRange(ctx, headers, Buffer.from(lfsPointer(file.sha256, file.size)));
    return;
  }
  sendBlob(core, ctx, headers, file);
}

/** Bytes of an in-memory body, honouring `Range`. */
function sendRange(ctx: Ctx, headers: Record<string, string | number>, data: Buffer): void {
  const span = rangeOf(ctx, headers, data.byteLength);
  if (!span) return;
  send(ctx, span.status, headers, data.subarray(span.start, span.start + span.length));
}

/** A stored blob, honouring `Range`; shared by `resolve` and the CDN host. */
export function sendBlob(core: HubCore, ctx: Ctx, headers: Record<string, string | number>, file: Pick<StoredFile, "sha256" | "size">): void {
  const span = rangeOf(ctx, headers, file.size);
  if (!span) return;
  const { status, start, length } = span;
  if (ctx.req.method === "HEAD") {
    send(ctx, status, { ...headers, "Content-Length": length });
  } else if (length <= 8 * 1024 * 1024 || ctx.truncateFault) {
    // Small (or faulted) bodies go through send().
    send(ctx, status, headers, core.store.readBlobRange(file.sha256, start, length));
  } else {
    // Big files stream from disk.
    ctx.record.status = status;
    ctx.record.bytes = length;
    ctx.res.writeHead(status, { ...headers, "Content-Length": length });
    createReadStream(core.store.blobPath(file.sha256), { start, end: start + length - 1 }).pipe(ctx.res);
  }
}

/** The span a `Range` header asks for (setting Content-Range), or null after answering 416. */
function rangeOf(ctx: Ctx, headers: Record<string, string | number>, size: number): { status: number; start: number; length: number } | null {
  const range = ctx.req.headers.range;
  if (range && size === 0) {
    headers["Content-Range"] = "bytes */0";
    return { status: 200, start: 0, length: 0 };
  }
  if (!range) return { status: 200, start: 0, length: size };
  const parsed = parseRange(range, size);
  if (!parsed) {
    send(ctx, 416, { "Content-Range": `bytes */${size}`, "Content-Type": "text/plain" }, "Requested Range Not Satisfiable");
    return null;
  }
  const [start, end] = parsed;
  headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  return { status: 206, start, length: end - start + 1 };
}
