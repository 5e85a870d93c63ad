/**
 * The Hugging Face webhook route, mounted with Probot's `addHandler`.
 *
 * The Hub sends a JSON POST with the shared secret in `X-Webhook-Secret`
 * (https://huggingface.co/docs/hub/webhooks); a webhook URL may instead carry it as
 * `?secret=` (the Hub docs' alternative for receivers that cannot read headers). The secret
 * is compared in constant time (SHA-256 of both sides, then `timingSafeEqual`, so neither the
 * value nor its length leaks); a missing secret is 401, a wrong one 403. A good request is
 * answered 202 at once and worked on afterwards: the Hub does not wait for precheck or
 * dispatch. The log line of each delivery names the payload's `webhook.version` (the project
 * reads version 3) and says so when another one arrives.
 *
 * The Hub sends no delivery id; the SHA-256 of the body stands in for one (a replay from the
 * webhook's activity tab is byte-identical).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isRepoId } from "./request.js";
import type { RequestCandidate } from "./types.js";

export interface HubWebhookPayload {
  event: { action: string; scope: string };
  repo: { type: string; name: string; id?: string; private?: boolean; headSha?: string; tags?: string[]; owner?: { id: string } };
  updatedRefs?: Array<{ ref: string; oldSha: string | null; newSha: string | null }>;
  webhook?: { id: string; version: number };
  /** On a `repo`/`move` event: where the repo went (`repo.name` is its old name). */
  movedTo?: { name: string; owner?: { id: string } };
}

/** The payload version this route was written against (huggingface_hub `_webhooks_payload.py`). */
export const HUB_WEBHOOK_VERSION = 3;

const MAX_BODY = 1024 * 1024;

export function secretMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

const SHA_RE = /^[0-9a-f]{40}$/;

/**
 * Checks every field the bot reads against the documented payload
 * (https://huggingface.co/docs/hub/webhooks): types, and `repo.name` as a Hub repo id — it
 * becomes a path in Hub API URLs (with the bot's token) and the requester that quotas count,
 * so `../`, `%2e`, extra slashes or a query string must never get through. Returns the
 * problems, each naming the field; empty when the payload is usable.
 */
export function validateHubPayload(p: unknown): string[] {
  const errors: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const optional = (v: unknown, ok: (x: unknown) => boolean, field: string, expected: string) => {
    if (v !== undefined && v !== null && !ok(v)) errors.push(`${field}: expected ${expected}`);
  };
  const isStr = (v: unknown) => typeof v === "string";
  if (!isObj(p)) return ["body: expected a JSON object"];
  if (!isObj(p.event)) errors.push("event: expected {action, scope}");
  else {
    if (!isStr(p.event.action)) errors.push("event.action: expected a string");
    if (!isStr(p.event.scope)) errors.push("event.scope: expected a string");
  }
  if (!isObj(p.repo)) errors.push("repo: expected an object");
  else {
    const r = p.repo;
    if (!isStr(r.type)) errors.push("repo.type: expected a string");
    if (!isStr(r.name)) errors.push("repo.name: expected a string");
    else if (r.type === "model" && !isRepoId(r.name as string)) errors.push(`repo.name: ${JSON.stringify((r.name as string).slice(0, 100))} is not a Hub repo id (OWNER/NAME)`);
    optional(r.headSha, (v) => isStr(v) && SHA_RE.test(v as string), "repo.headSha", "a 40-hex commit sha");
    optional(r.private, (v) => typeof v === "boolean", "repo.private", "a boolean");
    optional(r.tags, (v) => Array.isArray(v) && v.every(isStr), "repo.tags", "an array of strings");
    optional(r.id, isStr, "repo.id", "a string");
  }
  // A move names the repo the request is made for, so its new name is held to the same rule.
  optional(p.movedTo, (v) => isObj(v) && isStr(v.name) && isRepoId(v.name as string), "movedTo", "{name: OWNER/NAME}");
  optional(
    p.updatedRefs,
    (v) => Array.isArray(v) && v.every((u) => isObj(u) && isStr(u.ref) && (u.oldSha === null || u.oldSha === undefined || isStr(u.oldSha)) && (u.newSha === null || u.newSha === undefined || isStr(u.newSha))),
    "updatedRefs",
    "an array of {ref, oldSha, newSha}",
  );
  return errors;
}

/**
 * Turns a validated Hub webhook payload (`validateHubPayload`) into a request candidate, or
 * null when the event cannot be a request: not a model, not a repo event, a deletion, or a
 * push that did not move `main`.
 */
export function candidateFromHubPayload(p: HubWebhookPayload, deliveryId?: string): RequestCandidate | null {
  if (validateHubPayload(p).length > 0) return null;
  if (p.repo.type !== "model") return null;
  const scope = p.event.scope;
  if (!(scope === "repo" || scope.startsWith("repo."))) return null;
  if (scope === "repo" && !["create", "update", "move"].includes(p.event.action)) return null;
  if (scope.startsWith("repo.config")) return null;
  if (p.updatedRefs && p.updatedRefs.length > 0 && !p.updatedRefs.some((r) => r.ref === "refs/heads/main" && r.newSha)) return null;
  if (p.repo.private) return null;
  // A renamed repo is requested under its new name: the old one only redirects now.
  const moved = scope === "repo" && p.event.action === "move" && typeof p.movedTo?.name === "string" ? p.movedTo.name : undefined;
  const theta1 = moved ?? p.repo.name;
  return {
    source: "hub-webhook",
    theta1,
    theta1Revision: typeof p.repo.headSha === "string" && /^[0-9a-f]{40}$/.test(p.repo.headSha) ? p.repo.headSha : undefined,
    requester: `hub:${theta1.split("/")[0]}`,
    deliveryId,
  };
}

/** Bytes of an oversized body read and dropped so that the 413 reaches the client; past this the socket is closed. */
const MAX_DISCARD = 8 * MAX_BODY;

/**
 * Reads the body up to `MAX_BODY`. An oversized body is read to its end and dropped (up to
 * `MAX_DISCARD`) before the 413, because a server that answers and closes while the client is
 * still sending makes the client see a reset instead of the answer.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => Object.assign(new Error("body too large"), { status: 413 });
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > MAX_DISCARD) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_DISCARD) {
        req.destroy();
        reject(tooLarge());
        return;
      }
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => (size > MAX_BODY ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

/** Reads and drops the rest of a body (up to MAX_DISCARD bytes, then the socket is closed). */
function drain(req: IncomingMessage): void {
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > MAX_DISCARD) req.destroy();
  });
  req.resume();
}

function send(res: ServerResponse, status: number, message: string): true {
  // An answer sent before the body was read (401, 403, 405, 413) closes the connection, and
  // the unread body is drained so the client reads the answer rather than a reset.
  const early = !res.req.readableEnded;
  if (early) drain(res.req);
  res.writeHead(status, { "content-type": "application/json", ...(early ? { connection: "close" } : {}) }).end(JSON.stringify({ status, message }));
  return true;
}

export interface HubRouteOptions {
  path: string;
  secret: string;
  /** Called after the 202 is sent; errors are the callee's to log. */
  onCandidate: (candidate: RequestCandidate) => Promise<unknown>;
  onError?: (err: unknown) => void;
  /** Where each delivery is logged (scope, action, repo, webhook version); nothing secret is passed. */
  log?: { info(fields: Record<string, unknown>, msg: string): void; warn(fields: Record<string, unknown>, msg: string): void };
}

/** The secret of a delivery: the header, else the `?secret=` query parameter; undefined when neither. */
function givenSecret(req: IncomingMessage): string | string[] | undefined {
  const header = req.headers["x-webhook-secret"];
  if (header !== undefined && header !== "") return header;
  const query = new URL(req.url ?? "/", "http://localhost").searchParams.getAll("secret");
  if (query.length === 0 || query[0] === "") return undefined;
  return query.length === 1 ? query[0] : query;
}

/** A Probot `Handler`: returns true when it answered the request. */
export function hubWebhookHandler(options: HubRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== options.path) return false;
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return send(res, 405, "POST only");
    }
    const given = givenSecret(req);
    if (given === undefined) return send(res, 401, "missing X-Webhook-Secret");
    if (Array.isArray(given) || !secretMatches(given, options.secret)) return send(res, 403, "wrong X-Webhook-Secret");
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      return send(res, (err as { status?: number }).status ?? 400, "cannot read body");
    }
    let payload: HubWebhookPayload;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return send(res, 400, "body is not JSON");
    }
    const problems = validateHubPayload(payload);
    if (problems.length > 0) return send(res, 400, `invalid Hub payload: ${problems.join("; ")}`);
    const deliveryId = `hub:${createHash("sha256").update(body).digest("hex")}`;
    const candidate = candidateFromHubPayload(payload, deliveryId);
    send(res, 202, candidate ? "accepted" : "ignored");
    const version = payload?.webhook?.version;
    const fields = { version: version ?? null, scope: payload?.event?.scope, action: payload?.event?.action, repo: payload?.repo?.name, movedTo: payload?.movedTo?.name, accepted: Boolean(candidate) };
    if (version === HUB_WEBHOOK_VERSION) options.log?.info(fields, `Hub webhook v${version}`);
    else options.log?.warn(fields, `Hub webhook of version ${String(version ?? "unknown")}; this route reads v${HUB_WEBHOOK_VERSION}`);
    if (candidate) {
      setImmediate(() => {
        options.onCandidate(candidate).catch((err) => options.onError?.(err));
      });
    }
    return true;
  };
}
