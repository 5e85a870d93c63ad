/**
 * A repo at one revision seen as a set of files: the shape of checkpoint/'s
 * `WeightFileAccess` ({ name, readText, exists, open }), so `openModelWeightsFrom(hubFileAccess(…))`
 * opens Hub weights exactly as a local folder. (Structural: hub/ does not import checkpoint/.)
 *
 * One listing request answers every `exists` and gives every read its size, so a small file
 * costs one request and opening a checkpoint the listing, the index (if sharded) and two
 * range requests per shard.
 */
import type { HubClient } from "./client.js";
import { HubByteSource } from "./byte-source.js";
import { listRepoFiles, type HubFileEntry } from "./list-files.js";
import { readTextFile } from "./read-file.js";

export interface HubFileAccess {
  name: string;
  readText(file: string): Promise<string | null>;
  exists(file: string): Promise<boolean>;
  open(file: string): HubByteSource;
  /** The listing (fetched once). */
  listing(): Promise<HubFileEntry[]>;
  /** Byte sources opened so far: their bytes and requests. */
  usage(): { bytesRead: number; requests: number };
}

/** Pin `revision` to a commit sha (getModelInfo().sha) so all reads see the same commit. */
export function hubFileAccess(params: { client: HubClient; repo: string; revision?: string; readAheadBytes?: number }): HubFileAccess {
  const { client, repo, revision } = params;
  let listing: Promise<Map<string, HubFileEntry>> | null = null;
  const getListing = () => {
    listing ??= listRepoFiles({ client, repo, revision }).then((l) => new Map(l.map((e) => [e.path, e])));
    listing.catch(() => {
      listing = null;
    });
    return listing;
  };
  const sources: HubByteSource[] = [];
  return {
    name: revision ? `${repo}@${revision}` : repo,
    async readText(file) {
      const entry = (await getListing()).get(file);
      if (!entry) return null;
      return readTextFile({ client, repo, revision, path: file, size: entry.size });
    },
    async exists(file) {
      return (await getListing()).has(file);
    },
    open(file) {
      const source = new HubByteSource({
        client,
        repo,
        revision,
        path: file,
        readAheadBytes: params.readAheadBytes,
        lookup: async () => {
          const e = (await getListing()).get(file);
          return e ? { size: e.size, etag: e.lfsSha256 ?? e.oid } : undefined;
        },
      });
      sources.push(source);
      return source;
    },
    async listing() {
      return [...(await getListing()).values()];
    },
    usage() {
      return { bytesRead: sources.reduce((a, s) => a + s.bytesRead, 0), requests: sources.reduce((a, s) => a + s.requests, 0) };
    },
  };
}
