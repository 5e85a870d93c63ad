/**
 * The Hub client configuration shared by every operation in src/hub/: token, Hub URL, the
 * fetch to use, and the retry policy. Operations take it as `client` in their params object.
 *
 * Retry policy (applied inside the fetch handed to @huggingface/hub, so it covers the
 * library's calls as well as ours):
 * - 429: wait what the Hub says — the `t=` of the `RateLimit` header (`"api";r=0;t=55`), else
 *   `Retry-After` (seconds or an HTTP date) — else exponential backoff; give up at once when the
 *   wait exceeds `maxRateLimitWaitMs`. Retried for every method (the Hub did not act on it).
 * - 500/502/503/504 and connection failures: exponential backoff with jitter, only for
 *   requests that are safe to repeat (GET/HEAD/PUT, preupload, LFS batch/verify); never for a
 *   commit or a discussion post, which could otherwise happen twice. A host that does not
 *   resolve or refuses connections (ENOTFOUND, EAI_AGAIN, ECONNREFUSED) is retried once only:
 *   offline, the user hears so in about a second, not after 15 s of backoff.
 * - offline (`offline`, default from HF_HUB_OFFLINE=1 as in huggingface_hub): no request is
 *   made; every call fails at once with HubOfflineError.
 * - a ranged or small response whose body arrives short (connection cut) is re-requested. A
 *   compressed body (Content-Encoding gzip/br) is read decoded; its Content-Length is the
 *   compressed size, so only fetch's own check of the received bytes applies to it.
 * After `maxRetries` the last response goes back to the caller and becomes a typed error
 * (errors.ts). `sleep` is injectable so tests run in milliseconds.
 */
import { HUB_URL } from "@huggingface/hub";
import { HubOfflineError } from "./errors.js";

export interface RetryOptions {
  /** Retries after the first attempt. Default 5. */
  maxRetries?: number;
  /** First backoff delay; doubles each retry. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap on one backoff delay. Default 30 s. */
  maxDelayMs?: number;
  /** Longest rate-limit wait accepted before giving up with HubRateLimitError. Default 5 min. */
  maxRateLimitWaitMs?: number;
}

export interface HubClientOptions {
  /** A Hub access token (`hf_…`). Never logged, never put in an error. */
  token?: string;
  /** Default https://huggingface.co; point it at the local Hub in tests. */
  hubUrl?: string;
  fetch?: typeof fetch;
  retry?: RetryOptions;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Offer the Xet protocol for uploads, as @huggingface/hub does by default. Default true; the
   * library falls back to LFS (basic or multipart) when the Hub's batch answer is not "xet".
   * `false` (or HF_HUB_DISABLE_XET=1 in the environment) is the escape hatch: plain LFS only.
   */
  useXet?: boolean;
  /** Responses up to this size are buffered and checked for truncation. Default 16 MiB. */
  bufferLimitBytes?: number;
  /** Called on each retry (for logs; the URL never contains the token). */
  onRetry?: (event: RetryEvent) => void;
  /** Make no request at all (HubOfflineError). Default: HF_HUB_OFFLINE is 1/true/yes/on. */
  offline?: boolean;
}

/** huggingface_hub's reading of HF_HUB_OFFLINE. */
export function isHubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE?.trim() ?? "");
}

/** Connection errors that mean "this host is not reachable from here", not a transient hiccup. */
const UNREACHABLE_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH"]);

export function connectionErrorCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } })?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === "string" ? code : undefined;
}

/** What the Hub says about a failure in headers (huggingface_hub's hf_raise_for_status reads the same two). */
export interface HubErrorHeaders {
  code?: string;
  message?: string;
}

export interface RetryEvent {
  url: string;
  method: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

/** Counters over the client's life: what the bot reports as "bytes and requests used". */
export interface HubStats {
  requests: number;
  retries: number;
  /** Body bytes received through buffered responses and byte sources. */
  bytesReceived: number;
}

export interface HubClient {
  readonly hubUrl: string;
  readonly useXet: boolean;
  /** Retrying fetch for the library and our REST calls; small/ranged bodies are buffered and checked. */
  readonly fetch: typeof fetch;
  /** Retrying fetch that never buffers bodies (streaming downloads). */
  readonly streamingFetch: typeof fetch;
  readonly sleep: (ms: number) => Promise<void>;
  readonly stats: HubStats;
  /** X-Error-Code / X-Error-Message of recent failed responses, by URL (see errors.ts). */
  readonly errorHeaders: Map<string, HubErrorHeaders>;
  /** `{ accessToken, hubUrl, fetch }` to spread into @huggingface/hub calls. */
  credentials(): { accessToken?: string; hubUrl: string; fetch: typeof fetch };
  /** Authorization header for our own REST calls. */
  authHeaders(): Record<string, string>;
  readonly hasToken: boolean;
  readonly offline: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createHubClient(options: HubClientOptions = {}): HubClient {
  const hubUrl = (options.hubUrl ?? process.env.HF_ENDPOINT ?? HUB_URL).replace(/\/+$/, "");
  const baseFetch = options.fetch ?? globalThis.fetch;
  const sleep = options.sleep ?? defaultSleep;
  const retry = {
    maxRetries: options.retry?.maxRetries ?? 5,
    baseDelayMs: options.retry?.baseDelayMs ?? 500,
    maxDelayMs: options.retry?.maxDelayMs ?? 30_000,
    maxRateLimitWaitMs: options.retry?.maxRateLimitWaitMs ?? 300_000,
  };
  const stats: HubStats = { requests: 0, retries: 0, bytesReceived: 0 };
  const errorHeaders = new Map<string, HubErrorHeaders>();
  // The token lives only in this closure.
  const token = options.token;
  const bufferLimit = options.bufferLimitBytes ?? 16 * 1024 * 1024;
  const offline = options.offline ?? isHubOffline();

  const make = (buffer: boolean): typeof fetch =>
    (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
      const body = init?.body;
      const replayable = body === undefined || body === null || typeof body === "string" || body instanceof Blob || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams;
      const safeToRepeat = replayable && isIdempotent(method, url);
      const hasRange = new Headers(init?.headers).has("range");
      if (offline) throw new HubOfflineError(`HF_HUB_OFFLINE is set: not contacting ${hubUrl} (${method} ${safePath(url)})`, { ctx: { op: "offline" } });
      for (let attempt = 0; ; attempt++) {
        stats.requests++;
        const last = attempt >= retry.maxRetries;
        let res: Response;
        try {
          res = await baseFetch(input, init);
        } catch (err) {
          const unreachable = UNREACHABLE_CODES.has(connectionErrorCode(err) ?? "");
          if (last || !safeToRepeat || isAbort(err) || (unreachable && attempt >= 1)) throw err;
          await backoff(attempt, `connection failed: ${(err as Error).message}`);
          continue;
        }
        if (res.status === 429 && replayable && !last) {
          const hinted = rateLimitDelayMs(res.headers);
          if (hinted !== undefined && hinted > retry.maxRateLimitWaitMs) return res;
          await res.body?.cancel().catch(() => undefined);
          await backoff(attempt, "HTTP 429", hinted);
          continue;
        }
        if ([500, 502, 503, 504].includes(res.status) && safeToRepeat && !last) {
          await res.body?.cancel().catch(() => undefined);
          await backoff(attempt, `HTTP ${res.status}`);
          continue;
        }
        if (!res.ok) {
          // The library's HubApiError keeps no headers; errors.ts needs these two to type the error.
          const code = res.headers.get("x-error-code") ?? undefined;
          const message = res.headers.get("x-error-message") ?? undefined;
          if (code || message) {
            if (errorHeaders.size > 200) errorHeaders.clear();
            errorHeaders.set(res.url || url, { code, message });
          }
          return res;
        }
        if (!buffer || method === "HEAD" || res.status === 204) return res;
        const length = Number(res.headers.get("content-length") ?? NaN);
        if (!(hasRange || (Number.isFinite(length) && length <= bufferLimit)) || (Number.isFinite(length) && length > bufferLimit)) return res;
        // Buffer, so that a cut connection is detected (and retried) here rather than deep in a caller.
        let data: ArrayBuffer;
        try {
          data = await res.arrayBuffer();
        } catch (err) {
          if (last || !safeToRepeat) throw err;
          await backoff(attempt, `body cut short: ${(err as Error).message}`);
          continue;
        }
        // Under Content-Encoding (gzip, br…) Content-Length is the size of the compressed body,
        // which fetch has already decoded: the two cannot be compared. A cut connection still
        // shows, as fetch errors the body when fewer than Content-Length bytes arrive.
        const encoded = isContentEncoded(res.headers);
        if (!encoded && Number.isFinite(length) && data.byteLength !== length) {
          if (last || !safeToRepeat) throw new TypeError(`terminated: body of ${url} was ${data.byteLength} bytes, expected ${length}`);
          await backoff(attempt, `body cut short (${data.byteLength}/${length} bytes)`);
          continue;
        }
        stats.bytesReceived += data.byteLength;
        // The copy carries decoded bytes, so its headers must not claim an encoding or the
        // compressed length (a consumer reading Content-Length would otherwise see the wrong size).
        const headers = new Headers(res.headers);
        if (encoded) {
          headers.delete("content-encoding");
          headers.set("content-length", String(data.byteLength));
        }
        const copy = new Response(data, { status: res.status, statusText: res.statusText, headers });
        Object.defineProperty(copy, "url", { value: res.url || url });
        return copy;
      }

      async function backoff(attempt: number, reason: string, hintedMs?: number): Promise<void> {
        const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
        const delayMs = hintedMs !== undefined ? hintedMs : Math.round(exp / 2 + (Math.random() * exp) / 2);
        stats.retries++;
        options.onRetry?.({ url, method, attempt: attempt + 1, delayMs, reason });
        await sleep(delayMs);
      }
    }) as typeof fetch;

  const client: HubClient = {
    hubUrl,
    // HF_HUB_DISABLE_XET is huggingface_hub's switch for the same thing.
    useXet: options.useXet ?? !/^(1|true|yes|on)$/i.test(process.env.HF_HUB_DISABLE_XET ?? ""),
    fetch: make(true),
    streamingFetch: make(false),
    sleep,
    stats,
    errorHeaders,
    hasToken: Boolean(token),
    offline,
    credentials() {
      return { ...(token ? { accessToken: token } : {}), hubUrl, fetch: client.fetch };
    },
    authHeaders(): Record<string, string> {
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
  };
  // Keep the token out of util.inspect / JSON of the client.
  Object.defineProperty(client, "toJSON", { value: () => ({ hubUrl, hasToken: Boolean(token) }), enumerable: false });
  return client;
}

/** Whether the body was sent compressed (fetch decodes it; Content-Length is then the compressed size). */
function isContentEncoded(headers: Headers): boolean {
  const encoding = headers.get("content-encoding")?.trim().toLowerCase();
  return Boolean(encoding) && encoding !== "identity";
}

/** Requests that may be repeated without doing something twice. */
function isIdempotent(method: string, url: string): boolean {
  if (method === "GET" || method === "HEAD" || method === "PUT" || method === "OPTIONS") return true;
  if (method !== "POST") return false;
  const path = safePath(url);
  return /\/preupload\/|\/info\/lfs\/objects\/batch$|\/__lfs\/verify$|\/verify$/.test(path);
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

/**
 * The wait a 429 asks for, in ms: `RateLimit: "api";r=0;t=55` (IETF draft the Hub uses),
 * else `Retry-After` as seconds or an HTTP date; undefined when neither is given.
 */
export function rateLimitDelayMs(headers: Headers, now = Date.now()): number | undefined {
  const rl = headers.get("ratelimit");
  if (rl) {
    const m = /(?:^|[;,\s])t=(\d+(?:\.\d+)?)/.exec(rl);
    if (m) return Math.round(Number(m[1]) * 1000);
  }
  const ra = headers.get("retry-after");
  if (ra) {
    if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.round(Number(ra) * 1000);
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return undefined;
}
