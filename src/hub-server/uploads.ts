/**
 * Uploads and commits: preupload (LFS or regular per file), the Git LFS batch API with the
 * "basic" transfer and the Hub's own "multipart" transfer (parts PUT to presigned URLs, then a
 * completion POST), uploads streamed to disk while hashed (no body is held in memory), and the
 * NDJSON commit. A batch that offers "xet" gets "basic"/"multipart" back: the local Hub has no
 * Xet storage, and that answer is what makes @huggingface/hub fall back to LFS (commit.ts:
 * `if (useXet && json.transfer !== "xet") useXet = false`).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { HttpError, readBody, readJson, send, sendJson, streamBodyToFile, type Ctx } from "./http.js";
import type { HubCore } from "./core.js";
import { lfsPointer, wantsLfs, type RepoState, type StoredFile } from "./store.js";

interface MultipartUpload {
  oid: string;
  size: number;
  chunkSize: number;
  numParts: number;
  parts: Map<number, { path: string; etag: string; size: number }>;
}

/** Multipart uploads in progress, by upload id (they live as long as the server). */
export class UploadSessions {
  readonly multipart = new Map<string, MultipartUpload>();

  discard(id: string): void {
    const up = this.multipart.get(id);
    if (!up) return;
    for (const p of up.parts.values()) rmSync(p.path, { force: true });
    this.multipart.delete(id);
  }
}

export async function handlePreupload(core: HubCore, ctx: Ctx, repo: RepoState, rev: string): Promise<void> {
  core.requireUser(ctx);
  core.resolveRev(repo, rev);
  const body = (await readJson(ctx.req)) as { files?: { path: string; size: number; sample: string }[] };
  const files = (body.files ?? []).map((f) => ({
    path: f.path,
    uploadMode: wantsLfs(f.path, f.size, Buffer.from(f.sample ?? "", "base64"), core.store.lfsThreshold) ? "lfs" : "regular",
    shouldIgnore: false,
  }));
  sendJson(ctx, 200, { files, commitOid: core.store.resolve(repo, rev)?.oid });
}

export async function handleLfsBatch(core: HubCore, sessions: UploadSessions, ctx: Ctx, repo: RepoState): Promise<void> {
  core.requireUser(ctx);
  const body = (await readJson(ctx.req)) as { operation?: string; transfers?: string[]; objects?: { oid: string; size: number }[] };
  if (body.operation !== "upload") throw new HttpError(400, "Only the upload operation is supported");
  const offered = body.transfers ?? ["basic"];
  ctx.record.transfers = offered;
  if (!offered.includes("basic") && !offered.includes("multipart")) throw new HttpError(422, "Only the basic and multipart transfers are supported");
  const multipart = core.settings.realHub.multipartUploads && offered.includes("multipart");
  const chunkSize = core.settings.multipartChunkSize;
  const objects = (body.objects ?? []).map((o) => {
    if (!/^[0-9a-f]{64}$/.test(o.oid) || !Number.isSafeInteger(o.size) || o.size < 0) {
      return { oid: o.oid, size: o.size, error: { code: 422, message: "Invalid oid or size" } };
    }
    if (core.store.hasBlob(o.oid)) return { oid: o.oid, size: o.size, authenticated: true };
    if (multipart && o.size > chunkSize) {
      const id = randomBytes(12).toString("hex");
      const numParts = Math.ceil(o.size / chunkSize);
      sessions.multipart.set(id, { oid: o.oid, size: o.size, chunkSize, numParts, parts: new Map() });
      const header: Record<string, string> = { chunk_size: String(chunkSize) };
      for (let n = 1; n <= numParts; n++) header[String(n).padStart(5, "0")] = `${ctx.base}/__lfs/multipart/${id}/${n}`;
      return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${ctx.base}/__lfs/multipart/${id}/complete`, header, expires_in: 86400 } } };
    }
    return {
      oid: o.oid,
      size: o.size,
      authenticated: true,
      actions: {
        upload: { href: `${ctx.base}/__lfs/upload/${o.oid}?size=${o.size}&repo=${encodeURIComponent(repo.id)}`, expires_in: 3600 },
        verify: { href: `${ctx.base}/__lfs/verify`, expires_in: 3600 },
      },
    };
  });
  send(ctx, 200, { "Content-Type": "application/vnd.git-lfs+json" }, JSON.stringify({ transfer: multipart ? "multipart" : "basic", objects }));
}

/** `PUT /__lfs/upload/{oid}?size=`: the whole object, streamed to disk and checked against oid and size. */
export async function handleLfsUpload(core: HubCore, ctx: Ctx, oid: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(oid)) throw new HttpError(400, `Invalid oid ${oid}`);
  const sizeParam = ctx.url.searchParams.get("size");
  const expectedSize = sizeParam === null ? NaN : Number(sizeParam);
  const tmp = core.store.incomingPath();
  const got = await streamBodyToFile(ctx.req, tmp, Number.isFinite(expectedSize) ? expectedSize : Number.MAX_SAFE_INTEGER);
  if (got.sha256 !== oid || (Number.isFinite(expectedSize) && got.size !== expectedSize)) {
    rmSync(tmp, { force: true });
    if (got.sha256 !== oid) throw new HttpError(400, `Uploaded content does not match oid ${oid}`);
    throw new HttpError(400, `Uploaded ${got.size} bytes, expected ${expectedSize}`);
  }
  core.store.adoptBlob(tmp, oid);
  send(ctx, 200, { "Content-Type": "text/plain" }, "");
}

/** `PUT /__lfs/multipart/{id}/{n}`: one part, answered with its ETag as S3 does. */
export async function handleMultipartPart(core: HubCore, sessions: UploadSessions, ctx: Ctx, id: string, partNumber: number): Promise<void> {
  const up = sessions.multipart.get(id);
  if (!up) throw new HttpError(404, `No multipart upload ${id}`);
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > up.numParts) throw new HttpError(400, `Part ${partNumber} is outside 1..${up.numParts}`);
  const expected = partNumber < up.numParts ? up.chunkSize : up.size - up.chunkSize * (up.numParts - 1);
  const tmp = core.store.incomingPath();
  const got = await streamBodyToFile(ctx.req, tmp, expected);
  if (got.size !== expected) {
    rmSync(tmp, { force: true });
    throw new HttpError(400, `Part ${partNumber} has ${got.size} bytes, expected ${expected}`);
  }
  const previous = up.parts.get(partNumber);
  if (previous) rmSync(previous.path, { force: true });
  const etag = `"${got.md5}"`;
  up.parts.set(partNumber, { path: tmp, etag, size: got.size });
  send(ctx, 200, { ETag: etag, "Content-Type": "text/plain" }, "");
}

/** `POST /__lfs/multipart/{id}/complete {oid, parts:[{partNumber, etag}]}`: joins the parts and checks the whole. */
export async function handleMultipartComplete(core: HubCore, sessions: UploadSessions, ctx: Ctx, id: string): Promise<void> {
  const up = sessions.multipart.get(id);
  if (!up) throw new HttpError(404, `No multipart upload ${id}`);
  const body = (await readJson(ctx.req)) as { oid?: string; parts?: { partNumber: number; etag: string }[] };
  if (body.oid !== up.oid) throw new HttpError(400, `Completion names oid ${String(body.oid)}, the upload is for ${up.oid}`);
  const parts = body.parts ?? [];
  if (parts.length !== up.numParts) throw new HttpError(400, `Completion lists ${parts.length} parts, expected ${up.numParts}`);
  for (const [i, p] of parts.entries()) {
    const stored = up.parts.get(i + 1);
    if (p.partNumber !== i + 1 || !stored || stored.etag !== p.etag) throw new HttpError(400, `Part ${i + 1} is missing or its ETag does not match`);
  }
  const tmp = core.store.incomingPath();
  const hash = createHash("sha256");
  const out = createWriteStream(tmp);
  try {
    for (let n = 1; n <= up.numParts; n++) {
      const source = createReadStream(up.parts.get(n)!.path);
      source.on("data", (c) => hash.update(c));
      await pipeline(source, out, { end: n === up.numParts });
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  sessions.discard(id);
  if (hash.digest("hex") !== up.oid) {
    rmSync(tmp, { force: true });
    throw new HttpError(400, `Joined parts do not match oid ${up.oid}`);
  }
  core.store.adoptBlob(tmp, up.oid);
  sendJson(ctx, 200, { message: "completed" });
}

export async function handleLfsVerify(core: HubCore, ctx: Ctx): Promise<void> {
  const body = (await readJson(ctx.req)) as { oid?: string; size?: number };
  if (!body.oid || !core.store.hasBlob(body.oid)) throw new HttpError(404, `Object ${body.oid} not found`);
  const size = core.store.blobSize(body.oid);
  if (body.size !== undefined && body.size !== size) throw new HttpError(422, `Object ${body.oid} has size ${size}, not ${body.size}`);
  sendJson(ctx, 200, { message: "verified" });
}

export async function handleCommit(core: HubCore, ctx: Ctx, repo: RepoState, branch: string): Promise<void> {
  const user = core.requireUser(ctx);
  if (ctx.url.searchParams.get("create_pr")) throw new HttpError(400, "Pull requests are not supported by the local Hub");
  if (!repo.branches[branch]) throw new HttpError(404, `Invalid rev id: ${branch}`, "RevisionNotFound");
  const text = (await readBody(ctx.req)).toString("utf8");
  let header: { summary?: string; description?: string; parentCommit?: string } = {};
  const changes: Record<string, StoredFile | null> = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let item: { key: string; value: Record<string, unknown> };
    try {
      item = JSON.parse(line) as typeof item;
    } catch {
      throw new HttpError(400, "Invalid NDJSON line in commit payload");
    }
    const v = item.value ?? {};
    const path = typeof v.path === "string" ? v.path : "";
    if (item.key !== "header" && (!path || path.startsWith("/") || path.split("/").includes(".."))) throw new HttpError(400, `Invalid path "${path}"`);
    switch (item.key) {
      case "header":
        header = v as typeof header;
        break;
      case "file": {
        const content = Buffer.from(String(v.content ?? ""), v.encoding === "base64" ? "base64" : "utf8");
        changes[path] = core.store.storeFile(path, content, false);
        break;
      }
      case "lfsFile": {
        const oid = String(v.oid ?? "");
        if (!core.store.hasBlob(oid)) throw new HttpError(422, `LFS file ${path} (${oid}) was not uploaded`);
        const size = core.store.blobSize(oid);
        if (v.size !== undefined && v.size !== size) throw new HttpError(422, `LFS file ${path}: size ${String(v.size)} does not match the uploaded ${size} bytes`);
        const pointer = lfsPointer(oid, size);
        changes[path] = { sha256: oid, size, lfs: true, gitOid: createHash("sha1").update(`blob ${Buffer.byteLength(pointer)}\0${pointer}`).digest("hex") };
        break;
      }
      case "deletedFile":
      case "deletedFolder":
        changes[path] = null;
        break;
      default:
        throw new HttpError(400, `Unknown commit operation "${item.key}"`);
    }
  }
  if (!header.summary) throw new HttpError(400, "Commit summary is required");
  if (header.parentCommit && header.parentCommit !== repo.branches[branch]) {
    throw new HttpError(412, "A commit has happened since. Please refresh and try again.");
  }
  const commit = core.store.commit(repo, { branch, title: header.summary, description: header.description ?? "", author: user, changes });
  sendJson(ctx, 200, { success: true, commitOid: commit.oid, commitUrl: `${ctx.base}/${repo.id}/commit/${commit.oid}`, hookOutput: "" });
}
