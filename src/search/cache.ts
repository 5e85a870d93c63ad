/**
 * The resumable result cache: an append-only JSONL file of finished generations and scores.
 * Every record is one line written by a single append, so a crash leaves at most one partial
 * last line, which `open` cuts off. Keys hash everything that makes a result reusable: both
 * model revisions, α, the prompt text, the sampling settings and the generator/scorer ids.
 */
import { createHash } from "node:crypto";
import { appendFile, mkdir, readFile, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import type { Generation, ModelRevisions, Sampling } from "./types.js";

export const CACHE_FORMAT = 1;

export interface GenerationKeyParts {
  revisions: ModelRevisions;
  alpha: number;
  prompt: string;
  sampling: Sampling;
  generator: string;
}

/** Canonical text for α (so 0.30000000000000004 and 0.3 share a key). */
export function alphaKey(alpha: number): string {
  return String(Number(alpha.toPrecision(12)));
}

export function generationKey(parts: GenerationKeyParts): string {
  const s = parts.sampling;
  const canonical = JSON.stringify([
    CACHE_FORMAT,
    parts.revisions.sft,
    parts.revisions.aligned,
    alphaKey(parts.alpha),
    createHash("sha256").update(parts.prompt).digest("hex"),
    [s.temperature, s.topP, s.topK, s.presencePenalty, s.frequencyPenalty, s.seed, s.maxTokens],
    parts.generator,
  ]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 32);
}

type CacheRecord =
  | { t: "gen"; k: string; alpha: string; text: string; tokens: number; finish?: string }
  | { t: "score"; k: string; scorer: string; reward: number };

export class ResultCache {
  private readonly generations = new Map<string, Generation>();
  private readonly scores = new Map<string, number>();
  private pending: string[] = [];
  /** Lines dropped on open because a crash cut them short. */
  recoveredPartialLines = 0;

  private constructor(readonly path: string | undefined) {}

  /** A cache that lives only in memory (benchmarks, tests). */
  static memory(): ResultCache {
    return new ResultCache(undefined);
  }

  /** Opens (or creates) the JSONL cache at `path`, cutting off a partial last line. */
  static async open(path: string): Promise<ResultCache> {
    const cache = new ResultCache(path);
    await mkdir(dirname(path), { recursive: true });
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const end = text.lastIndexOf("\n") + 1;
    if (end < text.length) {
      // A partial line from a crash mid-append: drop it so the next append starts clean.
      cache.recoveredPartialLines++;
      await truncate(path, Buffer.byteLength(text.slice(0, end)));
    }
    for (const line of text.slice(0, end).split("\n")) {
      if (!line.trim()) continue;
      let record: CacheRecord;
      try {
        record = JSON.parse(line) as CacheRecord;
      } catch {
        cache.recoveredPartialLines++;
        continue;
      }
      cache.remember(record);
    }
    return cache;
  }

  get size(): { generations: number; scores: number } {
    return { generations: this.generations.size, scores: this.scores.size };
  }

  getGeneration(key: string): Generation | undefined {
    return this.generations.get(key);
  }

  getScore(key: string, scorer: string): number | undefined {
    return this.scores.get(`${key}\u0000${scorer}`);
  }

  putGeneration(key: string, alpha: number, generation: Generation): void {
    const record: CacheRecord = { t: "gen", k: key, alpha: alphaKey(alpha), text: generation.text, tokens: generation.tokens };
    if (generation.finishReason !== undefined) record.finish = generation.finishReason;
    this.add(record);
  }

  putScore(key: string, scorer: string, reward: number): void {
    this.add({ t: "score", k: key, scorer, reward });
  }

  /** Appends everything added since the last flush in one write. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join("");
    this.pending = [];
    if (this.path) await appendFile(this.path, chunk);
  }

  private add(record: CacheRecord): void {
    this.remember(record);
    this.pending.push(JSON.stringify(record) + "\n");
  }

  private remember(record: CacheRecord): void {
    if (record.t === "gen") {
      const g: Generation = { text: record.text, tokens: record.tokens };
      if (typeof record.finish === "string") g.finishReason = record.finish;
      this.generations.set(record.k, g);
    }
    else if (record.t === "score") this.scores.set(`${record.k}\u0000${record.scorer}`, record.reward);
  }
}
