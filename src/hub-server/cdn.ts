/**
 * The second local host standing in for the Hub's CDN: huggingface.co answers `resolve` of an
 * LFS (or Xet-backed) file with a 302 to a signed URL on another origin. Following it, fetch
 * drops the Authorization header (a cross-origin redirect), so this host trusts only the
 * signature and expiry in the URL, and serves the blob with ranges like a CDN would.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { HttpError, send, type Ctx } from "./http.js";
import type { HubCore } from "./core.js";
import { sendBlob } from "./files.js";

const SIGNING_KEY = randomBytes(32);
/** How long a signed URL stays valid, as the Hub's (about an hour). */
const TTL_SECONDS = 3600;
let issued = 0;

function signature(sha256: string, expires: number): string {
  return createHmac("sha256", SIGNING_KEY).update(`${sha256}:${expires}`).digest("hex");
}

/** Path and query of a signed CDN URL for a blob (the file name is only for the download's name). */
export function signCdnPath(sha256: string, path: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + TTL_SECONDS;
  const name = encodeURIComponent(path.split("/").pop() ?? "file");
  // Like a presigned URL's request id, `n` makes every URL handed out distinct.
  return `/repos/${sha256}/${name}?Expires=${expires}&Signature=${signature(sha256, expires)}&n=${++issued}`;
}

/** Serves `GET|HEAD /repos/{sha256}/{name}?Expires=&Signature=` on the CDN host. */
export function serveCdn(core: HubCore, ctx: Ctx): void {
  const m = /^\/repos\/([0-9a-f]{64})\/[^/]+$/.exec(ctx.url.pathname);
  const method = ctx.req.method ?? "GET";
  if (!m || (method !== "GET" && method !== "HEAD")) throw new HttpError(404, "Not found");
  const sha256 = m[1]!;
  const expires = Number(ctx.url.searchParams.get("Expires"));
  const given = Buffer.from(ctx.url.searchParams.get("Signature") ?? "", "utf8");
  const expected = Buffer.from(signature(sha256, expires), "utf8");
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || !(expires * 1000 > Date.now())) {
    send(ctx, 403, { "Content-Type": "application/xml" }, "<Error><Code>AccessDenied</Code><Message>Request has expired or its signature is invalid</Message></Error>");
    return;
  }
  if (!core.store.hasBlob(sha256)) throw new HttpError(404, "Not found");
  const headers: Record<string, string | number> = {
    "Content-Type": "application/octet-stream",
    "Accept-Ranges": "bytes",
    ETag: `"${sha256}"`,
    "Cache-Control": "public, max-age=604800, immutable",
  };
  sendBlob(core, ctx, headers, { sha256, size: core.store.blobSize(sha256) });
}
