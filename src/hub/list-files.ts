/** Listing the files of a repo at a revision (sizes, git oids, LFS sha256). */
import { listFiles } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { toHubError } from "./errors.js";

export interface HubFileEntry {
  path: string;
  /** Size of the file's content (for LFS files, of the real content, not the pointer). */
  size: number;
  /** Git blob oid (sha1) of what git stores: the file, or its LFS pointer. */
  oid: string;
  /** sha256 of the content, for LFS files. */
  lfsSha256?: string;
}

/**
 * Lists every file (not folders) under `path` (default: the whole repo), recursively,
 * following the Hub's pagination.
 */
export async function listRepoFiles(params: { client: HubClient; repo: string; revision?: string; path?: string }): Promise<HubFileEntry[]> {
  const { client, repo, revision, path } = params;
  const out: HubFileEntry[] = [];
  try {
    for await (const e of listFiles({ ...client.credentials(), repo, revision, path, recursive: true })) {
      if (e.type !== "file") continue;
      const entry: HubFileEntry = { path: e.path, size: e.lfs?.size ?? e.size, oid: e.oid ?? "" };
      if (e.lfs) entry.lfsSha256 = e.lfs.oid;
      out.push(entry);
    }
  } catch (err) {
    throw toHubError(err, { op: "list files", repo, revision, path }, client.errorHeaders);
  }
  return out;
}
