/**
 * The local side of an upload: which files of a model folder are published, and their
 * hashes in the two forms the Hub's tree reports (git blob sha1 for regular files, sha256
 * for LFS files), so that unchanged files are never committed or sent again.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";

export interface LocalFile {
  /** Path in the repo (forward slashes). */
  path: string;
  /** Where the content comes from: a file on disk, or bytes (the rendered card). */
  source: { localPath: string } | { bytes: Uint8Array };
  size: number;
  sha256: string;
  /** Git blob oid: sha1("blob <size>\0" + content). */
  gitOid: string;
}

/** Files that are never published from a model folder. */
export function isIgnored(repoPath: string): boolean {
  const parts = repoPath.split("/");
  return parts.some((p) => p.startsWith(".")) || /\.tmp-|\.partial$|~$/.test(repoPath);
}

/** Every publishable file under `dir` (recursive, sorted), as repo paths. */
export async function listModelFolder(dir: string): Promise<Array<{ path: string; localPath: string }>> {
  const out: Array<{ path: string; localPath: string }> = [];
  async function walk(current: string): Promise<void> {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      const repoPath = relative(dir, full).split(sep).join("/");
      if (isIgnored(repoPath)) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push({ path: repoPath, localPath: full });
    }
  }
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Hashes a file on disk in one streaming pass (sha256 and git blob sha1). */
export async function hashLocalFile(path: string, localPath: string): Promise<LocalFile> {
  const { size } = await stat(localPath);
  const sha256 = createHash("sha256");
  const sha1 = createHash("sha1").update(`blob ${size}\0`);
  await new Promise<void>((resolve, reject) => {
    createReadStream(localPath, { highWaterMark: 4 * 1024 * 1024 })
      .on("data", (chunk) => {
        sha256.update(chunk);
        sha1.update(chunk);
      })
      .on("end", () => resolve())
      .on("error", reject);
  });
  return { path, source: { localPath }, size, sha256: sha256.digest("hex"), gitOid: sha1.digest("hex") };
}

export function hashBytes(path: string, bytes: Uint8Array): LocalFile {
  return {
    path,
    source: { bytes },
    size: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    gitOid: createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex"),
  };
}

export interface RemoteFile {
  path: string;
  /** Git blob oid of what git stores (the file, or its LFS pointer). */
  oid: string;
  /** sha256 of the content, for LFS files. */
  lfsSha256?: string;
}

/** Whether the remote file already has exactly this content. */
export function sameContent(local: LocalFile, remote: RemoteFile): boolean {
  return remote.lfsSha256 ? remote.lfsSha256 === local.sha256 : remote.oid === local.gitOid;
}

export interface UploadDiff {
  /** Files to add or replace. */
  upload: LocalFile[];
  /** Remote files absent locally (never `.gitattributes`). */
  delete: string[];
  /** Files already identical on the remote. */
  unchanged: string[];
}

export function diffAgainstRemote(local: LocalFile[], remote: RemoteFile[]): UploadDiff {
  const byPath = new Map(remote.map((r) => [r.path, r]));
  const localPaths = new Set(local.map((l) => l.path));
  const upload: LocalFile[] = [];
  const unchanged: string[] = [];
  for (const file of local) {
    const r = byPath.get(file.path);
    if (r && sameContent(file, r)) unchanged.push(file.path);
    else upload.push(file);
  }
  const del = remote.map((r) => r.path).filter((p) => !localPaths.has(p) && p !== ".gitattributes");
  return { upload, delete: del.sort(), unchanged };
}
