/**
 * Downloading a repo at one commit into a plain folder, resumably.
 *
 * - The revision is resolved to a commit sha first, so every file comes from the same commit.
 * - Files already complete are skipped: a manifest (`.hub-snapshot.json`) records each
 *   finished file's oid; a file whose size matches the listing and that the manifest lists with
 *   the same oid is not fetched again (a file without a manifest entry is re-hashed).
 * - Each file is written to `.<name>.incomplete` beside its target; an interrupted download
 *   resumes from that file's length with a Range request, then the whole file is checked
 *   (size; sha256 for LFS files; git blob sha1 for the rest) and renamed into place.
 * Bytes come from the `resolve` URL the library's `downloadFile` uses, fetched with the
 * client's non-buffering retrying fetch (the library's blob stream would turn HTTP errors
 * into bare strings and lose their type).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { Progress } from "../util/progress.js";
import type { HubClient } from "./client.js";
import { resolveUrl } from "./resolve-url.js";
import { apiErrorFrom, HubError, HubTransferError, toHubError } from "./errors.js";
import { listRepoFiles, type HubFileEntry } from "./list-files.js";
import { getModelInfo } from "./model-info.js";

export const SNAPSHOT_MANIFEST = ".hub-snapshot.json";

export interface SnapshotDownloadParams {
  client: HubClient;
  repo: string;
  revision?: string;
  /** Target folder (created if needed). */
  dir: string;
  /** Which files to fetch (default: all). */
  include?: (path: string) => boolean;
  /** Attempts per file before giving up (each resumes where the last stopped). Default 4. */
  maxAttempts?: number;
  /** Show a progress bar / JSON progress lines on stderr (util/progress.ts). Default false. */
  showProgress?: boolean;
  /** Called as bytes arrive and when each file completes. */
  onProgress?: (event: { path: string; bytes: number; fileSize: number; done: boolean }) => void;
}

export interface SnapshotDownloadResult {
  repo: string;
  commit: string;
  dir: string;
  files: { path: string; size: number; skipped: boolean; resumedFrom: number }[];
  /** Bytes received over the network for this run (resumed files count only what was fetched). */
  bytesDownloaded: number;
}

interface Manifest {
  repo: string;
  commit: string;
  files: Record<string, { oid: string; size: number }>;
}

export async function snapshotDownload(params: SnapshotDownloadParams): Promise<SnapshotDownloadResult> {
  const { client, repo } = params;
  const dir = resolve(params.dir);
  const revision = params.revision;
  const commit = /^[0-9a-f]{40}$/.test(revision ?? "") ? revision! : (await getModelInfo({ client, repo, revision })).sha;
  const listing = (await listRepoFiles({ client, repo, revision: commit })).filter((e) => !params.include || params.include(e.path));
  await mkdir(dir, { recursive: true });
  const manifestPath = join(dir, SNAPSHOT_MANIFEST);
  const manifest: Manifest = await readManifest(manifestPath, repo, commit);
  const result: SnapshotDownloadResult = { repo, commit, dir, files: [], bytesDownloaded: 0 };
  if (params.showProgress) {
    const bar = new Progress({ label: `download ${repo}`, total: listing.reduce((a, e) => a + e.size, 0), unit: "bytes" });
    const doneBytes = new Map<string, number>();
    let total = 0;
    const user = params.onProgress;
    params = {
      ...params,
      onProgress: (e) => {
        total += e.bytes - (doneBytes.get(e.path) ?? 0);
        doneBytes.set(e.path, e.bytes);
        bar.update(total, e.path);
        user?.(e);
      },
    };
    try {
      return await downloadAll(params, dir, commit, listing, manifestPath, manifest, result);
    } finally {
      bar.finish();
    }
  }
  return downloadAll(params, dir, commit, listing, manifestPath, manifest, result);
}

async function downloadAll(
  params: SnapshotDownloadParams,
  dir: string,
  commit: string,
  listing: HubFileEntry[],
  manifestPath: string,
  manifest: Manifest,
  result: SnapshotDownloadResult,
): Promise<SnapshotDownloadResult> {
  for (const entry of listing) {
    const target = safeTarget(dir, entry.path);
    const existing = await stat(target).catch(() => null);
    if (existing?.isFile() && existing.size === entry.size) {
      const known = manifest.files[entry.path];
      if ((known && known.oid === entry.oid && known.size === entry.size) || (await verifies(target, entry))) {
        manifest.files[entry.path] = { oid: entry.oid, size: entry.size };
        result.files.push({ path: entry.path, size: entry.size, skipped: true, resumedFrom: 0 });
        params.onProgress?.({ path: entry.path, bytes: entry.size, fileSize: entry.size, done: true });
        continue;
      }
    }
    const { bytes, resumedFrom } = await downloadOne(params, commit, entry, target);
    result.bytesDownloaded += bytes;
    result.files.push({ path: entry.path, size: entry.size, skipped: false, resumedFrom });
    manifest.files[entry.path] = { oid: entry.oid, size: entry.size };
    await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 1));
  }
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 1));
  return result;
}

async function readManifest(path: string, repo: string, commit: string): Promise<Manifest> {
  try {
    const m = JSON.parse(await readFile(path, "utf8")) as Manifest;
    // Entries stay valid across commits: they are keyed by the file's own oid.
    if (m && m.repo === repo && m.files && typeof m.files === "object") return { repo, commit, files: m.files };
  } catch {
    // none yet
  }
  return { repo, commit, files: {} };
}

function safeTarget(dir: string, path: string): string {
  const target = resolve(dir, path);
  if (!target.startsWith(dir + sep) || path.split("/").some((p) => p === ".." || p === "")) {
    throw new HubError(`snapshot download: refusing unsafe file path "${path}"`, { ctx: { op: "snapshot download", path } });
  }
  return target;
}

function incompleteName(target: string): string {
  const parts = target.split(sep);
  const base = parts.pop()!;
  return [...parts, `.${base}.incomplete`].join(sep);
}

async function downloadOne(params: SnapshotDownloadParams, commit: string, entry: HubFileEntry, target: string): Promise<{ bytes: number; resumedFrom: number }> {
  const { client, repo } = params;
  const ctx = { op: "snapshot download", repo, revision: commit, path: entry.path };
  const partial = incompleteName(target);
  await mkdir(dirname(target), { recursive: true });
  const maxAttempts = params.maxAttempts ?? 4;
  let received = 0;
  let resumedFrom = -1;
  for (let attempt = 1; ; attempt++) {
    let have = (await stat(partial).catch(() => null))?.size ?? 0;
    if (have > entry.size) {
      await rm(partial, { force: true });
      have = 0;
    }
    if (resumedFrom < 0) resumedFrom = have;
    try {
      if (have < entry.size) {
        const url = resolveUrl({ hubUrl: client.hubUrl, repo, revision: commit, path: entry.path });
        const res = await client.streamingFetch(url, { headers: { ...client.authHeaders(), ...(have > 0 ? { Range: `bytes=${have}-` } : {}) } });
        if (!res.ok) throw await apiErrorFrom(res);
        if (have > 0 && res.status !== 206) {
          // The server ignored the range: start over.
          await rm(partial, { force: true });
          have = 0;
        }
        if (!res.body) throw new HubTransferError(`snapshot download: ${repo}@${commit} file "${entry.path}": empty response`, { ctx });
        // Each chunk is on disk before the next is read, so a cut connection loses nothing
        // that arrived and the next attempt resumes exactly where this one stopped.
        let count = have;
        const out = await open(partial, "a");
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            await out.write(chunk);
            count += chunk.byteLength;
            received += chunk.byteLength;
            params.onProgress?.({ path: entry.path, bytes: count, fileSize: entry.size, done: false });
          }
        } finally {
          await out.close();
        }
      }
      const size = (await stat(partial).catch(() => null))?.size ?? 0;
      if (size !== entry.size) throw new HubTransferError(`snapshot download: ${repo}@${commit} file "${entry.path}": received ${size} of ${entry.size} bytes`, { ctx });
      if (!(await verifies(partial, entry))) {
        await rm(partial, { force: true });
        throw new HubTransferError(`snapshot download: ${repo}@${commit} file "${entry.path}": content does not match the Hub's ${entry.lfsSha256 ? "sha256" : "git oid"}; discarded`, { ctx });
      }
      await rename(partial, target);
      params.onProgress?.({ path: entry.path, bytes: entry.size, fileSize: entry.size, done: true });
      return { bytes: received, resumedFrom };
    } catch (err) {
      const typed = toHubError(err, ctx, client.errorHeaders);
      const transient = typed instanceof HubTransferError || (err instanceof Error && /terminated|aborted|ECONNRESET|socket|premature/i.test(`${err.message} ${String((err as { cause?: unknown }).cause ?? "")}`));
      if (!transient || attempt >= maxAttempts) {
        throw typed instanceof HubError ? typed : new HubTransferError(`snapshot download: ${repo}@${commit} file "${entry.path}": ${(err as Error).message}`, { ctx, cause: err });
      }
      await client.sleep(Math.min(30_000, 500 * 2 ** (attempt - 1)));
    }
  }
}

/** Checks a local file against the listing: sha256 for LFS files, git blob sha1 otherwise. */
async function verifies(path: string, entry: HubFileEntry): Promise<boolean> {
  const hash = entry.lfsSha256 ? createHash("sha256") : createHash("sha1").update(`blob ${entry.size}\0`);
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  if (size !== entry.size) return false;
  const digest = hash.digest("hex");
  return entry.lfsSha256 ? digest === entry.lfsSha256 : !entry.oid || digest === entry.oid;
}
