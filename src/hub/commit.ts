/** Committing files to a repo branch (uploads through LFS where the Hub asks for it). */
import { commit, type CommitOperation } from "@huggingface/hub";
import { pathToFileURL } from "node:url";
import type { HubClient } from "./client.js";
import { HubAuthError, toHubError } from "./errors.js";

export type CommitFileContent =
  | { bytes: Uint8Array }
  | { text: string }
  | { blob: Blob }
  /** A local file, streamed from disk (the library's FileBlob). */
  | { localPath: string };

export interface CommitFile {
  /** Path in the repo. */
  path: string;
  content: CommitFileContent;
}

export interface CommitFilesParams {
  client: HubClient;
  repo: string;
  title: string;
  description?: string;
  /** Default "main". */
  branch?: string;
  files?: CommitFile[];
  /** Repo paths to delete. */
  deletes?: string[];
  /** Fail (HTTP 412) if the branch moved past this commit since it was read. */
  parentCommit?: string;
  /** Overrides the client's `useXet` (default true: Xet where the Hub offers it, else LFS). */
  useXet?: boolean;
}

export interface CommitFilesResult {
  commitOid: string;
  commitUrl: string;
}

/** Uploads and commits in one go: preupload → LFS batch + PUTs → NDJSON commit. */
export async function commitFiles(params: CommitFilesParams): Promise<CommitFilesResult> {
  const { client, repo } = params;
  const ctx = { op: "commit", repo, revision: params.branch };
  const creds = client.credentials();
  if (!creds.accessToken) throw new HubAuthError(`commit: ${repo}: a Hub token with write access is needed`, { ctx });
  const operations: CommitOperation[] = [
    ...(params.files ?? []).map((f): CommitOperation => ({ operation: "addOrUpdate", path: f.path, content: toContent(f.content) })),
    ...(params.deletes ?? []).map((path): CommitOperation => ({ operation: "delete", path })),
  ];
  try {
    const out = await commit({
      ...creds,
      repo: { type: "model", name: repo },
      title: params.title,
      description: params.description,
      branch: params.branch,
      parentCommit: params.parentCommit,
      operations,
      useXet: params.useXet ?? client.useXet,
    });
    if (!out) throw new Error("commit returned no result");
    return { commitOid: out.commit.oid, commitUrl: out.commit.url };
  } catch (err) {
    throw toHubError(err, ctx, client.errorHeaders);
  }
}

function toContent(c: CommitFileContent): Blob | URL {
  if ("bytes" in c) return new Blob([c.bytes as Uint8Array<ArrayBuffer>]);
  if ("text" in c) return new Blob([c.text]);
  if ("blob" in c) return c.blob;
  return pathToFileURL(c.localPath);
}
