/**
 * Prompt sets: the paper's UltraFeedback split (first user turn of `test_gen`) read as
 * parquet through an injected byte-range reader, local JSONL or parquet files, and a
 * deterministic seeded subset.
 */
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from "hyparquet";
import { UserError } from "../util/errors.js";
import type { Prompt } from "./types.js";

/** The paper's prompt set: the instructions of UltraFeedback's development split. */
export const ULTRAFEEDBACK = {
  repo: "HuggingFaceH4/ultrafeedback_binarized",
  /** The split's parquet file(s) in the dataset repo: pick the match from a file listing. */
  file: /^data\/test_gen-\d+-of-\d+(-[0-9a-f]+)?\.parquet$/,
  split: "test_gen",
} as const;

/** The test_gen parquet path among a dataset repo's files (the name carries a shard suffix, sometimes a hash). */
export function findUltraFeedbackFile(paths: string[]): string | undefined {
  return paths.filter((p) => ULTRAFEEDBACK.file.test(p)).sort()[0];
}

/** Adapts a `{ size(), read(offset, length) }` byte source (the Hub layer's HubByteSource) to hyparquet's AsyncBuffer. */
export function asyncBufferFromByteSource(source: { read(offset: number, length: number): Promise<Uint8Array> }, byteLength: number): ByteRangeReader {
  return {
    byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? byteLength, byteLength);
      const bytes = await source.read(start, Math.max(0, stop - start));
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** What hyparquet reads: a length and ranged reads (the Hub layer's range reader fits). */
export type ByteRangeReader = AsyncBuffer;

/** A parquet file on local disk as a ByteRangeReader (reads only the ranges asked for). */
export async function fileByteRangeReader(path: string): Promise<ByteRangeReader & { close(): Promise<void> }> {
  const handle = await open(path, "r");
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const buf = Buffer.alloc(Math.max(0, stop - start));
      if (buf.length > 0) await handle.read(buf, 0, buf.length, start);
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    },
    close: () => handle.close(),
  };
}

function promptId(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The first user turn of a `messages`/`chosen` list, or a string column, or null. */
function firstUserTurn(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    for (const m of value) {
      if (m && typeof m === "object" && (m as { role?: unknown }).role === "user" && typeof (m as { content?: unknown }).content === "string") {
        return (m as { content: string }).content;
      }
    }
  }
  return null;
}

const TEXT_FIELDS = ["prompt", "instruction", "text", "question", "input"];
const CHAT_FIELDS = ["messages", "chosen", "conversations"];

/** Extracts a prompt from a row: a text field, or the first user turn of a chat field. */
export function promptFromRow(row: Record<string, unknown>, field?: string): string | null {
  if (field) {
    const v = row[field];
    return typeof v === "string" ? v : firstUserTurn(v);
  }
  for (const f of TEXT_FIELDS) if (typeof row[f] === "string" && (row[f] as string).trim()) return row[f] as string;
  for (const f of CHAT_FIELDS) {
    const t = firstUserTurn(row[f]);
    if (t) return t;
  }
  return null;
}

function rowsToPrompts(rows: Record<string, unknown>[], source: string, field?: string): Prompt[] {
  const out: Prompt[] = [];
  const seen = new Set<string>();
  rows.forEach((row, i) => {
    const text = promptFromRow(row, field);
    if (text === null) {
      throw new UserError(`${source}: row ${i + 1} has no prompt (looked for ${field ? `"${field}"` : [...TEXT_FIELDS, ...CHAT_FIELDS].join(", ")})`);
    }
    if (!text.trim()) return;
    const id = typeof row.prompt_id === "string" ? row.prompt_id : typeof row.id === "string" ? row.id : promptId(text);
    if (seen.has(id)) return; // duplicates would weigh a prompt twice
    seen.add(id);
    out.push({ id, text });
  });
  return out;
}

/** Reads prompts from parquet bytes (only the needed columns). */
export async function promptsFromParquet(file: ByteRangeReader, options: { source?: string; field?: string } = {}): Promise<Prompt[]> {
  const source = options.source ?? "parquet";
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new UserError(`${source}: not a readable parquet file (${(err as Error).message})`, { cause: err });
  }
  const names = new Set(metadata.schema.map((s) => s.name));
  const wanted = options.field ? [options.field] : [...TEXT_FIELDS, ...CHAT_FIELDS].filter((f) => names.has(f));
  const columns = [...new Set([...wanted.slice(0, 1), ...(names.has("prompt_id") ? ["prompt_id"] : [])])];
  if (wanted.length === 0 || (options.field && !names.has(options.field))) {
    throw new UserError(`${source}: no prompt column (${options.field ? `"${options.field}" missing` : `none of ${[...TEXT_FIELDS, ...CHAT_FIELDS].join(", ")}`})`);
  }
  const rows = (await parquetReadObjects({ file, metadata, columns })) as Record<string, unknown>[];
  return rowsToPrompts(rows, source, wanted[0]);
}

/** The paper's set: UltraFeedback `test_gen`, first user turn (`prompt` column). */
export async function ultraFeedbackPrompts(file: ByteRangeReader): Promise<Prompt[]> {
  return promptsFromParquet(file, { source: `${ULTRAFEEDBACK.repo} (${ULTRAFEEDBACK.split})`, field: "prompt" });
}

/** JSONL: one object per line with a prompt field (or chat messages), or a bare JSON string. */
export function promptsFromJsonl(text: string, options: { source?: string; field?: string } = {}): Prompt[] {
  const source = options.source ?? "jsonl";
  const rows: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UserError(`${source}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    rows.push(typeof value === "string" ? { prompt: value } : (value as Record<string, unknown>));
  });
  return rowsToPrompts(rows, source, options.field);
}

/** A local `.jsonl` or `.parquet` file. */
export async function promptsFromFile(path: string, options: { field?: string } = {}): Promise<Prompt[]> {
  if (/\.parquet$/i.test(path)) {
    let reader;
    try {
      reader = await fileByteRangeReader(path);
    } catch (err) {
      throw new UserError(`--prompts ${path}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      return await promptsFromParquet(reader, { source: path, field: options.field });
    } finally {
      await reader.close();
    }
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UserError(`--prompts ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return promptsFromJsonl(text, { source: path, field: options.field });
}

/**
 * A deterministic subset of `n` prompts in a seeded order: prompts sorted by
 * sha256(seed, id). The order is the evaluation order (growing batches are prefixes), and a
 * prompt's rank does not depend on which other prompts are in the set.
 */
export function seededSubset(prompts: Prompt[], n: number | undefined, seed: number): Prompt[] {
  const ranked = prompts
    .map((p) => ({ p, k: createHash("sha256").update(`${seed}\u0000${p.id}`).digest("hex") }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.p);
  return n === undefined ? ranked : ranked.slice(0, Math.max(0, n));
}
