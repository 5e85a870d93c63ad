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

/**
 * Turns a Hub webhook payload into a request candidate, or null when the event cannot be a
 * request: not a model, not a repo event, a deletion, or a push that did not move `main`.
 */
export function candidateFromHubPayload(p: HubWebhookPayload, deliveryId?: string): RequestCandidate | null {
  if (!p || typeof p !== "object" || !p.event || !p.repo) return null;
  if (p.repo.type !== "model" || typeof p.repo.name !== "string") return null;
  const scope = String(p.event.scope ?? "");
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

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error("body too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, message: string): true {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ status, message }));
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
