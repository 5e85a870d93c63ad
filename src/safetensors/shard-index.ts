/**
 * `model.safetensors.index.json`: which shard holds each tensor. Shard file names come from
 * the network (a Hub repo), so they are validated before anything is opened with them.
 */
export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

export interface ShardIndex {
  metadata: { total_size?: number; [key: string]: unknown };
  /** Tensor name → shard file name. A Map: names like `__proto__` stay plain keys. */
  weightMap: Map<string, string>;
}

export class ShardIndexError extends Error {
  constructor(source: string, reason: string) {
    super(`${source}: invalid safetensors index: ${reason}`);
    this.name = "ShardIndexError";
  }
}

/**
 * A shard name must be a plain file name in the model folder: no absolute path, no `..`,
 * no separators, no control characters, ending in `.safetensors`.
 */
export function validateShardName(name: unknown, source: string): string {
  if (typeof name !== "string" || name.length === 0) throw new ShardIndexError(source, `shard name ${JSON.stringify(name)} is not a file name`);
  if (name.includes("/") || name.includes("\\")) throw new ShardIndexError(source, `shard name "${name}" contains a path separator`);
  if (name === "." || name === ".." || name.startsWith("..")) throw new ShardIndexError(source, `shard name "${name}" points outside the model folder`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw new ShardIndexError(source, `shard name ${JSON.stringify(name)} contains control characters`);
  if (!name.endsWith(".safetensors")) throw new ShardIndexError(source, `shard name "${name}" does not end in .safetensors`);
  return name;
}

export function parseShardIndex(text: string, source: string): ShardIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ShardIndexError(source, `not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ShardIndexError(source, "not a JSON object");
  const { metadata, weight_map } = raw as { metadata?: unknown; weight_map?: unknown };
  if (weight_map === null || typeof weight_map !== "object" || Array.isArray(weight_map)) throw new ShardIndexError(source, `"weight_map" is missing or not an object`);
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weight_map as Record<string, unknown>)) {
    weightMap.set(tensor, validateShardName(shard, source));
  }
  if (metadata !== undefined && (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))) throw new ShardIndexError(source, `"metadata" is not an object`);
  return { metadata: (metadata as ShardIndex["metadata"]) ?? {}, weightMap };
}

/** The index JSON text for a set of shards; `total_size` is the tensor bytes, as transformers writes it. */
export function formatShardIndex(weightMap: Iterable<[string, string]>, totalSize: number, extraMetadata: Record<string, unknown> = {}): string {
  const entries = [...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const map: Record<string, string> = {};
  for (const [tensor, shard] of entries) Object.defineProperty(map, tensor, { value: shard, enumerable: true, configurable: true, writable: true });
  return JSON.stringify({ metadata: { ...extraMetadata, total_size: totalSize }, weight_map: map }, null, 2) + "\n";
}

/** transformers' shard naming: model-00001-of-00003.safetensors. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}
