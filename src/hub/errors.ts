/**
 * Typed Hub errors. Every operation in src/hub/ turns failures into one of these, with a
 * message naming the operation, repo, revision and file. Messages and fields never contain
 * the access token (URLs the Hub answers never carry it, and nothing here reads headers).
 *
 * All extend UserError: a missing repo, a refused token or a gated model is something the
 * user fixes, so the CLI prints the message without a stack. Exit code 4 ("could not read a
 * model on the Hub"), the code `expo-bot check` uses for an unreachable model.
 */
import { HubApiError, InvalidApiResponseFormatError, SafetensorParseError } from "@huggingface/hub";
import { UserError } from "../util/errors.js";
import { SafetensorsError } from "../safetensors/header.js";
import type { HubErrorHeaders } from "./client.js";

export interface HubErrorContext {
  /** What was being done, e.g. "model info", "download". */
  op: string;
  repo?: string;
  revision?: string;
  path?: string;
}

export class HubError extends UserError {
  readonly status: number | undefined;
  readonly repo: string | undefined;
  readonly path: string | undefined;
  readonly revision: string | undefined;
  /** The Hub's X-Error-Code, when it sent one (RepoNotFound, EntryNotFound, GatedRepo…). */
  readonly code: string | undefined;
  constructor(message: string, init: { status?: number; ctx?: HubErrorContext; code?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: init.cause, exitCode: init.exitCode ?? 4 });
    this.name = "HubError";
    this.status = init.status;
    this.repo = init.ctx?.repo;
    this.path = init.ctx?.path;
    this.revision = init.ctx?.revision;
    this.code = init.code;
  }
}

/** 401/403 that is not a gate: no token, a bad token, or a token without write access. */
export class HubAuthError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubAuthError";
  }
}

/** The repo is gated and this token (or no token) has not been granted access. */
export class HubGatedError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubGatedError";
  }
}

/** Repo, revision or file not found (or private and invisible to this token). */
export class HubNotFoundError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubNotFoundError";
  }
}

/** Still rate-limited after the retries allowed. `retryAfterMs` is the Hub's last hint. */
export class HubRateLimitError extends HubError {
  retryAfterMs: number | undefined;
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubRateLimitError";
  }
}

/** 5xx still failing after retries. */
export class HubServerError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubServerError";
  }
}

/** The connection failed or a body arrived short, after retries. */
export class HubTransferError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubTransferError";
  }
}

/** The repo has its discussions (community tab) turned off. */
export class HubDiscussionsDisabledError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubDiscussionsDisabledError";
  }
}

/** 409: e.g. the repo already exists. */
export class HubConflictError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubConflictError";
  }
}

/** HF_HUB_OFFLINE is set and something needed the Hub (exit 4, like any unreachable Hub). */
export class HubOfflineError extends HubError {
  constructor(...args: ConstructorParameters<typeof HubError>) {
    super(...args);
    this.name = "HubOfflineError";
  }
}

/** The host a failed connection was for, from undici's cause (hostname, or address:port). */
function failedHost(err: unknown): string | undefined {
  const cause = (err as { cause?: { hostname?: unknown; address?: unknown; port?: unknown } }).cause;
  if (typeof cause?.hostname === "string") return cause.hostname;
  if (typeof cause?.address === "string") return `${cause.address}${typeof cause.port === "number" ? `:${cause.port}` : ""}`;
  return undefined;
}

/** The same error (same class, status, code, exit code) with `prefix` before its message: for callers that add which flag or model it was about. */
export function prefixHubError(err: HubError, prefix: string): HubError {
  const Ctor = err.constructor as new (message: string, init: ConstructorParameters<typeof HubError>[1]) => HubError;
  return new Ctor(`${prefix}${err.message}`, { status: err.status, code: err.code, cause: err, exitCode: err.exitCode, ctx: { op: "", repo: err.repo, revision: err.revision, path: err.path } });
}

export function describeTarget(ctx: HubErrorContext): string {
  let s = ctx.repo ?? "the Hub";
  if (ctx.revision) s += `@${ctx.revision}`;
  if (ctx.path) s += ` file "${ctx.path}"`;
  return s;
}

/** Strips what the library appends ("URL: …. Request ID: …") to keep messages short; keeps no query strings. */
function serverMessage(err: HubApiError): string {
  const data = err.data as { error?: unknown; message?: unknown } | undefined;
  const fromBody = typeof data?.error === "string" ? data.error : typeof data?.message === "string" ? data.message : "";
  return fromBody.trim();
}

/**
 * huggingface_hub's REPO_API_REGEX (utils/_http.py): a repo API call or a file resolve. A 401
 * there is what the Hub answers for a missing repo as well as for a private one.
 */
const REPO_API_PATH = /^\/api\/(models|datasets|spaces)\/.+|^\/.+\/resolve\/.+/;
/** The one 401 message that means the token itself is bad (hf_raise_for_status excludes it). */
const BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header";

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/**
 * Whether a refused discussions call means the repo's community tab is off. The Hub says so in
 * its message; the exact words have changed over time, so this looks for "disabled" (or "not
 * enabled", "turned off") together with discussions, on a discussions URL or in the message.
 */
export function isDiscussionsDisabled(status: number, url: string, message: string): boolean {
  if (status !== 403 && status !== 400 && status !== 401) return false;
  if (!/disabled|not enabled|turned off/i.test(message)) return false;
  return /discussion|community/i.test(message) || /\/discussions(\/|$)/.test(pathOf(url));
}

/**
 * Converts anything thrown while talking to the Hub into a typed error. `errorHeaders` maps a
 * response URL to the X-Error-Code / X-Error-Message the Hub sent with it (recorded by the
 * client's fetch, since the library's HubApiError keeps no headers).
 *
 * The order follows huggingface_hub's `hf_raise_for_status` (utils/_http.py), so an ambiguous
 * answer is read the way the Python client reads it: RevisionNotFound, EntryNotFound,
 * GatedRepo, "Access to this resource is disabled.", then RepoNotFound — which includes a 401
 * on a repo API or resolve URL unless the message says the token is bad — then 400, 403…
 */
export function toHubError(err: unknown, ctx: HubErrorContext, errorHeaders?: Map<string, HubErrorHeaders>): Error {
  if (err instanceof HubError || err instanceof SafetensorsError) return err;
  const target = describeTarget(ctx);
  if (err instanceof SafetensorParseError) {
    const m = /^Failed to parse file ([^:]*): ([\s\S]*)$/.exec(err.message);
    const path = ctx.path ?? m?.[1];
    return new SafetensorsError(`${ctx.repo ?? "hub"}${path ? `/${path}` : ""}`, m ? m[2]! : err.message);
  }
  if (err instanceof HubApiError) {
    const status = err.statusCode;
    const headers = errorHeaders?.get(err.url);
    const code = headers?.code;
    const said = serverMessage(err) || headers?.message || "";
    const detail = said ? ` The Hub said: "${said}".` : "";
    const init = { status, ctx, code, cause: err };
    const write = /commit|create|upload|comment|discussion/.test(ctx.op);
    if (code === "RevisionNotFound") return new HubNotFoundError(`${ctx.op}: ${target}: revision not found.${detail}`, init);
    if (code === "EntryNotFound") return new HubNotFoundError(`${ctx.op}: ${target}: file not found.${detail}`, init);
    if (code === "GatedRepo" || ((status === 401 || status === 403) && /restricted|gated|authorized list/i.test(said))) {
      return new HubGatedError(`${ctx.op}: ${target} is gated and ${status === 401 ? "no token was given" : "this token has not been granted access"}; accept the model's conditions on the Hub with the account whose token the bot uses.${detail}`, init);
    }
    if (said === "Access to this resource is disabled." || headers?.message === "Access to this resource is disabled.") {
      return new HubNotFoundError(`${ctx.op}: ${target} has been disabled on the Hub.${detail}`, init);
    }
    if (isDiscussionsDisabled(status, err.url, said)) return new HubDiscussionsDisabledError(`${ctx.op}: ${target} has discussions disabled.${detail}`, init);
    const badToken = headers?.message === BAD_TOKEN_MESSAGE || said === BAD_TOKEN_MESSAGE;
    if (code === "RepoNotFound" || (status === 401 && !badToken && REPO_API_PATH.test(pathOf(err.url)))) {
      return new HubNotFoundError(`${ctx.op}: ${target} not found (or private and not visible ${status === 401 ? "without a valid token" : "to this token"}).${detail}`, init);
    }
    if (status === 401 || status === 403) {
      return new HubAuthError(`${ctx.op}: the Hub refused access to ${target} (HTTP ${status}); check that a token is set and has ${write ? "write" : "read"} access.${detail}`, init);
    }
    if (status === 404) return new HubNotFoundError(`${ctx.op}: ${target}: not found (or private and not visible to this token).${detail}`, init);
    if (status === 409) return new HubConflictError(`${ctx.op}: ${target}: conflict (HTTP 409).${detail}`, init);
    if (status === 429) return new HubRateLimitError(`${ctx.op}: ${target}: still rate-limited by the Hub (HTTP 429) after retrying; try again later.${detail}`, init);
    if (status >= 500) return new HubServerError(`${ctx.op}: ${target}: the Hub failed with HTTP ${status} after retrying.${detail}`, init);
    if (status === 400) return new HubError(`${ctx.op}: ${target}: bad request (HTTP 400).${detail}`, init);
    return new HubError(`${ctx.op}: ${target}: HTTP ${status}.${detail}`, init);
  }
  if (err instanceof InvalidApiResponseFormatError) {
    return new HubError(`${ctx.op}: ${target}: unexpected response from the Hub (${err.message})`, { ctx, cause: err });
  }
  if (err instanceof TypeError && /fetch failed|terminated|network|socket|ECONN|other side closed/i.test(`${err.message} ${String((err as { cause?: unknown }).cause ?? "")}`)) {
    const host = failedHost(err);
    return new HubTransferError(`${ctx.op}: ${target}: connection to the Hub${host ? ` at ${host}` : ""} failed (${err.message}${(err as { cause?: { code?: string } }).cause?.code ? `, ${(err as { cause?: { code?: string } }).cause!.code}` : ""})`, { ctx, cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A HubApiError from a failed Response, as the library's (unexported) createApiError builds
 * it: message from the JSON `error`/`message`, `data` the parsed body. For our own REST calls.
 */
export async function apiErrorFrom(res: Response): Promise<HubApiError> {
  const err = new HubApiError(res.url, res.status, res.headers.get("X-Request-Id") ?? undefined);
  err.message = `Api error with status ${res.status}`;
  const text = await res.text().catch(() => "");
  try {
    const json = JSON.parse(text) as { error?: string; message?: string };
    err.message = json.error || json.message || err.message;
    err.data = json as HubApiError["data"];
  } catch {
    err.data = { message: text };
  }
  return err;
}
