/**
 * Scorer backend over HTTP, two request shapes:
 *
 * - `json` (generic, batched): POST {endpoint} with
 *     {"items": [{"prompt": "...", "response": "..."}, ...]}
 *   answered by {"scores": [1.25, -0.5, ...]} (one finite number per item, same order).
 *
 * - `vllm-pooling`: vLLM serving a reward model (`vllm serve RM --task reward`, or a
 *   sequence-classification RM with `--task classify`): POST {endpoint}/pooling per item with
 *     {"model": NAME, "messages": [{"role": "user", "content": prompt},
 *                                  {"role": "assistant", "content": response}]}
 *   (the server applies the reward model's chat template) answered by
 *     {"data": [{"data": X}]}
 *   where X is a number, [number] (one label), or per-token [[number]] rows; the reward is
 *   the last row's first value.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../util/errors.js";
import type { ScoreItem, Scorer } from "./types.js";

export interface HttpScorerOptions {
  endpoint: string;
  format?: "json" | "vllm-pooling";
  /** Served model name for vllm-pooling (default: the first id of /v1/models). */
  model?: string;
  apiKey?: string;
  /** Items per request for `json` (default 32); requests in flight for vllm-pooling (default 8). */
  batchSize?: number;
  concurrency?: number;
  retries?: number;
  timeoutMs?: number;
  retryBaseMs?: number;
  /** Identifies the reward model in the cache key (default: format + endpoint + model). */
  id?: string;
  fetch?: typeof fetch;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

export class HttpScorer implements Scorer {
  readonly id: string;
  requests = 0;
  private servedName: Promise<string> | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: HttpScorerOptions) {
    if (!/^https?:\/\//.test(options.endpoint)) throw new UserError(`--scorer-endpoint must be an http(s) URL, got "${options.endpoint}"`);
    this.fetchImpl = options.fetch ?? fetch;
    this.id = options.id ?? `http:${options.format ?? "json"}:${options.endpoint}${options.model ? `:${options.model}` : ""}`;
  }

  async score(items: ScoreItem[], options: { signal?: AbortSignal } = {}): Promise<number[]> {
    return (this.options.format ?? "json") === "json" ? this.scoreJson(items, options.signal) : this.scorePooling(items, options.signal);
  }

  private async scoreJson(items: ScoreItem[], signal?: AbortSignal): Promise<number[]> {
    const size = Math.max(1, this.options.batchSize ?? 32);
    const out: number[] = [];
    for (let i = 0; i < items.length; i += size) {
      const batch = items.slice(i, i + size);
      const res = (await this.post(this.options.endpoint, { items: batch.map((x) => ({ prompt: x.prompt, response: x.response })) }, signal)) as { scores?: unknown };
      if (!Array.isArray(res.scores) || res.scores.length !== batch.length || !res.scores.every((v) => typeof v === "number" && Number.isFinite(v))) {
        throw new Error(`${this.options.endpoint}: expected {"scores": [${batch.length} finite numbers]}, got ${JSON.stringify(res).slice(0, 200)}`);
      }
      out.push(...(res.scores as number[]));
    }
    return out;
  }

  private async scorePooling(items: ScoreItem[], signal?: AbortSignal): Promise<number[]> {
    const base = this.options.endpoint.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.servedName ??= this.options.model ? Promise.resolve(this.options.model) : this.firstModel(base, signal);
    const model = await this.servedName;
    const out: number[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        const res = (await this.post(`${base}/pooling`, {
          model,
          messages: [
            { role: "user", content: items[i].prompt },
            { role: "assistant", content: items[i].response },
          ],
        }, signal)) as { data?: { data?: unknown }[] };
        out[i] = lastValue(res.data?.[0]?.data, `${base}/pooling`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.options.concurrency ?? 8, items.length)) }, worker));
    return out;
  }

  private async firstModel(base: string, signal?: AbortSignal): Promise<string> {
    const res = await this.fetchImpl(`${base}/v1/models`, { signal });
    const body = (await res.json()) as { data?: { id?: string }[] };
    const id = body.data?.[0]?.id;
    if (!id) throw new Error(`${base}/v1/models lists no model`);
    return id;
  }

  private async post(url: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const retries = this.options.retries ?? 4;
    let last: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep((this.options.retryBaseMs ?? 500) * 2 ** (attempt - 1), undefined, { signal });
      this.requests++;
      const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 120_000);
      try {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
        const res = await this.fetchImpl(url, { method: "POST", headers, body: JSON.stringify(body), signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
        const text = await res.text();
        if (res.ok) return JSON.parse(text);
        last = new Error(`${url} answered ${res.status}: ${text.slice(0, 300)}`);
        if (!RETRYABLE.has(res.status)) throw last;
      } catch (err) {
        if (signal?.aborted || (err === last && last instanceof Error)) throw err;
        last = timeout.aborted ? new Error(`${url} timed out`) : err;
      }
    }
    throw new Error(`${url} failed after ${retries + 1} tries: ${(last as Error).message}`);
  }
}

function lastValue(x: unknown, where: string): number {
  let v = x;
  while (Array.isArray(v)) v = v.length > 0 ? (Array.isArray(v[v.length - 1]) ? v[v.length - 1] : v[0]) : undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${where}: no reward in ${JSON.stringify(x).slice(0, 200)}`);
  return v;
}
