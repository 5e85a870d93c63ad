/**
 * Where a model comes from: a local folder or a Hub repo, behind the checkpoint module's
 * WeightFileAccess, with counters for the bytes and requests the check uses.
 *
 * Hub repos go through src/hub only (model info once, pinned to the commit sha it resolves
 * to; the file listing for sizes; small files; HubByteSource range reads). Nothing here
 * opens a socket.
 */
import { stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { localFolderAccess, type WeightFileAccess } from "../../checkpoint/weights.js";
import type { ByteSource } from "../../safetensors/byte-source.js";
import { createHubClient, getModelInfo, hubFileAccess, looksLikeRepoRef, parseRepoRef, type HubClient, type HubClientOptions } from "../../hub/index.js";
import { UserError } from "../../util/errors.js";
import type { ModelUsage, UsageCounts } from "./types.js";

export type Phase = "files" | "headers" | "samples";

/** Bytes and requests by phase; the orchestrator sets `phase` before each stage. */
export class UsageCounter {
  phase: Phase = "files";
  readonly files: UsageCounts = { bytes: 0, requests: 0 };
  readonly headers: UsageCounts = { bytes: 0, requests: 0 };
  readonly samples: UsageCounts = { bytes: 0, requests: 0 };
  add(bytes: number, requests: number): void {
    this[this.phase].bytes += bytes;
    this[this.phase].requests += requests;
  }
  summary(dataBytes: number, http: { requests: number; bytes: number } | null): ModelUsage {
    const logicalBytes = this.files.bytes + this.headers.bytes + this.samples.bytes;
    const logicalRequests = this.files.requests + this.headers.requests + this.samples.requests;
    const bytes = http ? Math.max(http.bytes, logicalBytes) : logicalBytes;
    const requests = http ? http.requests : logicalRequests;
    return {
      bytes,
      requests,
      files: { ...this.files },
      headers: { ...this.headers },
      samples: { ...this.samples },
      fraction: dataBytes > 0 ? bytes / dataBytes : 0,
      httpRequests: http ? http.requests : null,
    };
  }
}

export interface ModelSource {
  ref: string;
  kind: "local" | "hub";
  /** Hub id, or the id the caller gave a local folder. */
  id: string | null;
  revision: string | null;
  sha: string | null;
  /** Folder name or repo name, for messages and name-based hints. */
  label: string;
  access: WeightFileAccess;
  counter: UsageCounter;
  /** Card metadata the Hub already parsed (saves reading README.md), when known. */
  cardData: Record<string, unknown> | null;
  /** HTTP counters of this model's Hub client, when it is on the Hub. */
  http(): { requests: number; bytes: number } | null;
}

/** Token, Hub URL (default HF_ENDPOINT, else huggingface.co), fetch, retry policy. */
export type HubSettings = HubClientOptions;

/** Wraps a ByteSource so reads are counted: by the inner source's own counters when it keeps them (real requests, cache hits free), else one request per read. */
function countingSource(inner: ByteSource, counter: UsageCounter): ByteSource {
  const stats = inner as unknown as { bytesRead?: number; requests?: number; reads?: number };
  // Reads of one source run one at a time, so the counter deltas belong to this read alone
  // (shards and models still read in parallel).
  let queue: Promise<unknown> = Promise.resolve();
  return {
    name: inner.name,
    size: () => inner.size(),
    read(offset, length) {
      const run = queue.then(() => countedRead(offset, length));
      queue = run.catch(() => undefined);
      return run;
    },
    close: () => inner.close(),
  };
  async function countedRead(offset: number, length: number): Promise<Uint8Array> {
    {
      const b0 = stats.bytesRead;
      const r0 = stats.requests ?? stats.reads;
      const data = await inner.read(offset, length);
      const b1 = stats.bytesRead;
      const r1 = stats.requests ?? stats.reads;
      counter.add(typeof b0 === "number" && typeof b1 === "number" ? b1 - b0 : data.byteLength, typeof r0 === "number" && typeof r1 === "number" ? r1 - r0 : 1);
      return data;
    }
  }
}

function countingAccess(inner: WeightFileAccess, counter: UsageCounter): WeightFileAccess {
  return {
    name: inner.name,
    async readText(file) {
      const text = await inner.readText(file);
      counter.add(text === null ? 0 : Buffer.byteLength(text), 1);
      return text;
    },
    exists: (file) => inner.exists(file),
    open: (file) => countingSource(inner.open(file), counter),
  };
}

/**
 * A local folder path or a Hub id. An existing folder wins (so `org/model` that exists
 * here is read locally); `./x` and `/x` are always paths; anything else must parse as
 * `owner/name[@revision]`.
 */
export async function resolveModel(ref: string, options: { id?: string | null; hub?: HubSettings; role: "θ0" | "θ1" | "base" }): Promise<ModelSource> {
  const isDir = await stat(ref).then((s) => s.isDirectory(), () => false);
  if (isDir) return localSource(ref, options.id ?? null);
  if (!looksLikeRepoRef(ref)) throw new UserError(`${options.role} "${ref}" is neither a local folder nor a Hub id (owner/name or owner/name@revision)`);
  return hubSource(ref, options.hub ?? {});
}

function localSource(dir: string, id: string | null): ModelSource {
  const counter = new UsageCounter();
  return {
    ref: dir,
    kind: "local",
    id,
    revision: null,
    sha: null,
    label: id ?? basename(resolve(dir)),
    access: countingAccess(localFolderAccess(dir), counter),
    counter,
    cardData: null,
    http: () => null,
  };
}

async function hubSource(ref: string, settings: HubSettings): Promise<ModelSource> {
  const { repo, revision } = parseRepoRef(ref);
  const client: HubClient = createHubClient(settings);
  const counter = new UsageCounter();
  // One request: the commit sha (every later read is pinned to it), card data, gating.
  const info = await getModelInfo({ client, repo, revision });
  counter.add(0, 1);
  // Headers are read exactly (8-byte length, then the JSON): two range requests per shard,
  // no read-ahead, so tiny shards are not over-read.
  const access = hubFileAccess({ client, repo, revision: info.sha });
  return {
    ref,
    kind: "hub",
    id: repo,
    revision: revision ?? null,
    sha: info.sha,
    label: repo,
    access: countingAccess(access, counter),
    counter,
    cardData: info.cardData ?? null,
    http: () => ({ requests: client.stats.requests, bytes: client.stats.bytesReceived }),
  };
}
