/**
 * safetensors over the Hub.
 *
 * - `safetensorsMetadata`: the library's `parseSafetensorsMetadata` (sharded or not,
 *   parameter counts), with its parse failures turned into the project's SafetensorsError.
 * - `openHubSafetensors`: one file as the project's SafetensorsFile over a HubByteSource, so
 *   the header gets the project's strict validation (src/safetensors/header.ts) and tensors
 *   can be read by range requests.
 * - `openHubCheckpoint`: every safetensors shard of a repo (via the index's weight_map, or the
 *   root `*.safetensors` files), headers validated, ready for sampled tensor reads.
 */
import { parseSafetensorsMetadata, type SafetensorsParseFromRepo } from "@huggingface/hub";
import { openSafetensors, type SafetensorsFile } from "../safetensors/reader.js";
import { SafetensorsError } from "../safetensors/header.js";
import type { HubClient } from "./client.js";
import { HubByteSource, type HubByteSourceParams } from "./byte-source.js";
import { HubError, HubNotFoundError, toHubError } from "./errors.js";
import { listRepoFiles, type HubFileEntry } from "./list-files.js";
import { readJsonFile } from "./read-file.js";

export async function safetensorsMetadata(params: { client: HubClient; repo: string; revision?: string; path?: string; computeParametersCount?: boolean }): Promise<SafetensorsParseFromRepo> {
  const { client, repo, revision, path } = params;
  try {
    return await parseSafetensorsMetadata({ ...client.credentials(), repo, revision, path, computeParametersCount: params.computeParametersCount ?? false });
  } catch (err) {
    if (err instanceof Error && /does not seem to contain safetensors weights/.test(err.message)) {
      throw new HubNotFoundError(`safetensors metadata: ${repo}${revision ? `@${revision}` : ""} has no model.safetensors or model.safetensors.index.json`, { status: 404, ctx: { op: "safetensors metadata", repo, revision } });
    }
    throw toHubError(err, { op: "safetensors metadata", repo, revision, path }, client.errorHeaders);
  }
}

/** The byte source's parameters (size and etag from a listing save the size probe). */
export type OpenHubSafetensorsParams = Omit<HubByteSourceParams, "lookup">;

/** Opens one safetensors file on the Hub; its header is validated as strictly as a local file's. */
export async function openHubSafetensors(params: OpenHubSafetensorsParams): Promise<SafetensorsFile> {
  const source = new HubByteSource(params);
  try {
    return await openSafetensors(source);
  } catch (err) {
    await source.close();
    throw err;
  }
}

export interface HubCheckpoint {
  repo: string;
  revision: string | undefined;
  /** Shard path → opened file. */
  files: Map<string, SafetensorsFile>;
  /** Tensor name → shard path. */
  weightMap: Map<string, string>;
  /** The index file's path when the checkpoint is sharded. */
  indexPath: string | undefined;
  /** Bytes and requests used so far by all shards' byte sources. */
  usage(): { bytesRead: number; requests: number; totalBytes: number };
  close(): Promise<void>;
}

const INDEX = "model.safetensors.index.json";

/**
 * Opens all safetensors shards of a checkpoint at `revision` (pin a commit sha from
 * getModelInfo so every read sees the same files): one listing request, the index if any,
 * then two range requests per shard for its header.
 */
export async function openHubCheckpoint(params: { client: HubClient; repo: string; revision?: string; readAheadBytes?: number; listing?: HubFileEntry[] }): Promise<HubCheckpoint> {
  const { client, repo, revision } = params;
  const listing = params.listing ?? (await listRepoFiles({ client, repo, revision }));
  const byPath = new Map(listing.map((e) => [e.path, e]));
  let shardPaths: string[];
  let indexPath: string | undefined;
  const weightMap = new Map<string, string>();
  if (byPath.has(INDEX)) {
    indexPath = INDEX;
    const index = await readJsonFile<{ weight_map?: Record<string, unknown> }>({ client, repo, revision, path: INDEX, size: byPath.get(INDEX)!.size });
    const map = index?.weight_map;
    if (!map || typeof map !== "object" || Array.isArray(map)) throw new SafetensorsError(`${repo}/${INDEX}`, "index has no weight_map object");
    for (const [tensor, file] of Object.entries(map)) {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\") || file === ".." || !file.endsWith(".safetensors")) {
        throw new SafetensorsError(`${repo}/${INDEX}`, `weight_map["${tensor}"] names an unsafe or non-safetensors file ${JSON.stringify(file)}`);
      }
      if (!byPath.has(file)) throw new SafetensorsError(`${repo}/${INDEX}`, `weight_map["${tensor}"] names "${file}", which is not in the repo`);
      weightMap.set(tensor, file);
    }
    shardPaths = [...new Set(weightMap.values())].sort();
  } else {
    shardPaths = listing.filter((e) => !e.path.includes("/") && e.path.endsWith(".safetensors")).map((e) => e.path).sort();
    if (shardPaths.length === 0) throw new HubNotFoundError(`open checkpoint: ${repo}${revision ? `@${revision}` : ""} has no safetensors weights at its root`, { status: 404, ctx: { op: "open checkpoint", repo, revision } });
  }
  const files = new Map<string, SafetensorsFile>();
  const sources: HubByteSource[] = [];
  const close = async () => {
    await Promise.all([...files.values()].map((f) => f.close()));
  };
  try {
    for (const path of shardPaths) {
      const entry = byPath.get(path)!;
      const file = await openHubSafetensors({ client, repo, revision, path, size: entry.size, etag: entry.lfsSha256 ?? entry.oid, readAheadBytes: params.readAheadBytes });
      sources.push(file.source as HubByteSource);
      files.set(path, file);
      if (!indexPath) for (const name of file.tensorNames()) weightMap.set(name, path);
    }
  } catch (err) {
    await close();
    throw err;
  }
  for (const [tensor, path] of weightMap) {
    if (!files.get(path)!.header.tensors.has(tensor)) throw new HubError(`open checkpoint: ${repo}: the index puts tensor "${tensor}" in ${path}, whose header does not have it`, { ctx: { op: "open checkpoint", repo, revision, path } });
  }
  return {
    repo,
    revision,
    files,
    weightMap,
    indexPath,
    usage: () => ({
      bytesRead: sources.reduce((a, s) => a + s.bytesRead, 0),
      requests: sources.reduce((a, s) => a + s.requests, 0),
      totalBytes: shardPaths.reduce((a, p) => a + byPath.get(p)!.size, 0),
    }),
    close,
  };
}
