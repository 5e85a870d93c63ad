/**
 * The request ledger: one SQLite file (better-sqlite3, synchronous, WAL), the bot's only state.
 *
 * - `requests.key` is UNIQUE: (θ1 repo@sha, θ0 repo@sha, settings). `insert` is an
 *   INSERT … ON CONFLICT DO NOTHING, so duplicate deliveries, redeliveries and the webhook
 *   racing the poller create one row, and only the caller that created it goes on.
 * - States move only along `ALLOWED`; `transition` is a compare-and-set on the current state,
 *   so two workers can never both move a request forward (e.g. both dispatch it).
 * - `deliveries` remembers delivery ids; `runs` remembers (run id, attempt) already ingested.
 * - `events` is an append-only history of transitions, for the operator.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ExpoResults } from "../job/results.js";
import type { RequestRecord, RequestSource, RequestState } from "./types.js";
import { TERMINAL_STATES } from "./types.js";

export const ALLOWED: Readonly<Record<RequestState, readonly RequestState[]>> = Object.freeze({
  received: ["refused", "prechecked", "failed"],
  prechecked: ["dispatched", "refused", "failed"],
  // dispatched → dispatched: a re-dispatch (lost dispatch found at start-up, or the one retry).
  // dispatched → published/no-gain/failed: the `in_progress` event can be missed.
  dispatched: ["dispatched", "running", "published", "no-gain", "failed"],
  running: ["dispatched", "published", "no-gain", "failed"],
  refused: [],
  published: [],
  "no-gain": [],
  failed: [],
});

export class TransitionError extends Error {
  constructor(id: string, from: RequestState, to: RequestState) {
    super(`request ${id}: transition ${from} → ${to} is not allowed`);
    this.name = "TransitionError";
  }
}

/** What intake knows of a request; the ledger adds state, run and timestamps (RequestRecord). */
export interface NewRequest extends Pick<RequestRecord, "id" | "key" | "theta1" | "theta1Sha" | "theta0" | "theta0Sha" | "alpha" | "source" | "requester"> {
  trackingIssue?: number | null;
  /** Refusal reasons known at intake (no parent, unreadable θ0): the request is refused at once. */
  reasons?: string[];
}

interface Row {
  id: string;
  key: string;
  theta1: string;
  theta1_sha: string;
  theta0: string | null;
  theta0_sha: string | null;
  alpha: number | null;
  source: string;
  requester: string;
  state: string;
  reasons: string;
  tracking_issue: number | null;
  run_id: number | null;
  run_attempt: number | null;
  retries: number;
  result: string | null;
  created_at: number;
  updated_at: number;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  theta1 TEXT NOT NULL,
  theta1_sha TEXT NOT NULL,
  theta0 TEXT,
  theta0_sha TEXT,
  alpha REAL,
  source TEXT NOT NULL,
  requester TEXT NOT NULL,
  state TEXT NOT NULL,
  reasons TEXT NOT NULL DEFAULT '[]',
  tracking_issue INTEGER,
  run_id INTEGER,
  run_attempt INTEGER,
  retries INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_state ON requests(state);
CREATE INDEX IF NOT EXISTS requests_requester ON requests(requester, created_at);
CREATE INDEX IF NOT EXISTS requests_theta1 ON requests(theta1, theta1_sha);
CREATE INDEX IF NOT EXISTS requests_run ON requests(run_id);
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER NOT NULL,
  run_attempt INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  conclusion TEXT,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, run_attempt)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  note TEXT
);
`;

function fromRow(r: Row): RequestRecord {
  return {
    id: r.id,
    key: r.key,
    theta1: r.theta1,
    theta1Sha: r.theta1_sha,
    theta0: r.theta0,
    theta0Sha: r.theta0_sha,
    alpha: r.alpha,
    source: r.source as RequestSource,
    requester: r.requester,
    state: r.state as RequestState,
    reasons: JSON.parse(r.reasons) as string[],
    trackingIssue: r.tracking_issue,
    runId: r.run_id,
    runAttempt: r.run_attempt,
    retries: r.retries,
    result: r.result ? (JSON.parse(r.result) as ExpoResults) : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class Ledger {
  readonly db: Database.Database;
  private readonly now: () => number;

  /** Opens (creating when absent) the ledger at `path`; `:memory:` for a throwaway one. */
  constructor(path: string, options: { now?: () => number } = {}) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`ledger ${path} has schema version ${version}; this bot knows up to ${SCHEMA_VERSION} (downgrade refused)`);
    }
    this.db.exec(SCHEMA);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.now = options.now ?? Date.now;
  }

  close(): void {
    this.db.close();
  }

  /**
   * Inserts a request unless one with the same key exists. Returns the row and whether this
   * call created it: only the creator processes it further.
   */
  insert(req: NewRequest): { record: RequestRecord; created: boolean } {
    const t = this.now();
    const info = this.db
      .prepare(
        `INSERT INTO requests (id, key, theta1, theta1_sha, theta0, theta0_sha, alpha, source, requester, state, reasons, tracking_issue, created_at, updated_at)
         VALUES (@id, @key, @theta1, @theta1Sha, @theta0, @theta0Sha, @alpha, @source, @requester, 'received', @reasons, @trackingIssue, @t, @t)
         ON CONFLICT DO NOTHING`,
      )
      .run({ ...req, reasons: JSON.stringify(req.reasons ?? []), trackingIssue: req.trackingIssue ?? null, t });
    const created = info.changes === 1;
    if (created) this.event(req.id, null, "received", `from ${req.source} by ${req.requester}`);
    const record = this.byKey(req.key);
    if (!record) throw new Error(`ledger: request ${req.key} vanished after insert`);
    return { record, created };
  }

  get(id: string): RequestRecord | null {
    const row = this.db.prepare(`SELECT * FROM requests WHERE id = ?`).get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  byKey(key: string): RequestRecord | null {
    const row = this.db.prepare(`SELECT * FROM requests WHERE key = ?`).get(key) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  byRun(runId: number): RequestRecord | null {
    const row = this.db.prepare(`SELECT * FROM requests WHERE run_id = ?`).get(runId) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** Whether any request exists for θ1 at this sha (lets the poller skip known heads cheaply). */
  knowsTheta1(theta1: string, sha: string): boolean {
    return this.db.prepare(`SELECT 1 FROM requests WHERE theta1 = ? AND theta1_sha = ? LIMIT 1`).get(theta1, sha) !== undefined;
  }

  /** Requests not yet in a terminal state, oldest first. */
  open(): RequestRecord[] {
    const marks = TERMINAL_STATES.map(() => "?").join(",");
    const rows = this.db.prepare(`SELECT * FROM requests WHERE state NOT IN (${marks}) ORDER BY created_at, id`).all(...TERMINAL_STATES) as Row[];
    return rows.map(fromRow);
  }

  all(): RequestRecord[] {
    return (this.db.prepare(`SELECT * FROM requests ORDER BY created_at, id`).all() as Row[]).map(fromRow);
  }

  /** Requests counted against quotas since `since` (ms): everything but refusals. */
  countSince(since: number, requester?: string): number {
    const row = requester
      ? this.db.prepare(`SELECT COUNT(*) AS n FROM requests WHERE created_at >= ? AND requester = ? AND state != 'refused'`).get(since, requester)
      : this.db.prepare(`SELECT COUNT(*) AS n FROM requests WHERE created_at >= ? AND state != 'refused'`).get(since);
    return (row as { n: number }).n;
  }

  /**
   * Moves a request from `from` to `to` if it is still in `from` (compare-and-set). Returns
   * false when another worker moved it first; throws TransitionError for a move the state
   * machine forbids.
   */
  transition(id: string, from: RequestState, to: RequestState, patch: Partial<Pick<RequestRecord, "reasons" | "runId" | "runAttempt" | "result">> & { note?: string } = {}): boolean {
    if (!ALLOWED[from].includes(to)) throw new TransitionError(id, from, to);
    const sets = ["state = @to", "updated_at = @t"];
    const params: Record<string, unknown> = { id, from, to, t: this.now() };
    if (patch.reasons !== undefined) {
      sets.push("reasons = @reasons");
      params.reasons = JSON.stringify(patch.reasons);
    }
    if (patch.runId !== undefined) {
      sets.push("run_id = @runId");
      params.runId = patch.runId;
    }
    if (patch.runAttempt !== undefined) {
      sets.push("run_attempt = @runAttempt");
      params.runAttempt = patch.runAttempt;
    }
    if (patch.result !== undefined) {
      sets.push("result = @result");
      params.result = patch.result === null ? null : JSON.stringify(patch.result);
    }
    const tx = this.db.transaction(() => {
      const info = this.db.prepare(`UPDATE requests SET ${sets.join(", ")} WHERE id = @id AND state = @from`).run(params);
      if (info.changes === 1) this.event(id, from, to, patch.note ?? null);
      return info.changes === 1;
    });
    return tx();
  }

  setTrackingIssue(id: string, issue: number): void {
    this.db.prepare(`UPDATE requests SET tracking_issue = ?, updated_at = ? WHERE id = ?`).run(issue, this.now(), id);
  }

  setRun(id: string, runId: number | null, attempt: number | null): void {
    this.db.prepare(`UPDATE requests SET run_id = ?, run_attempt = ?, updated_at = ? WHERE id = ?`).run(runId, attempt, this.now(), id);
  }

  incrementRetries(id: string): void {
    this.db.prepare(`UPDATE requests SET retries = retries + 1, updated_at = ? WHERE id = ?`).run(this.now(), id);
  }

  hasDelivery(id: string): boolean {
    return this.db.prepare(`SELECT 1 FROM deliveries WHERE id = ?`).get(id) !== undefined;
  }

  /** Remembers a delivery id; returns false when it was seen before. */
  rememberDelivery(id: string, source: string): boolean {
    const info = this.db.prepare(`INSERT INTO deliveries (id, source, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`).run(id, source, this.now());
    return info.changes === 1;
  }

  /** Claims (run id, attempt) for ingestion; returns false when it was already ingested. */
  claimRun(runId: number, attempt: number, requestId: string, conclusion: string | null): boolean {
    const info = this.db
      .prepare(`INSERT INTO runs (run_id, run_attempt, request_id, conclusion, processed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
      .run(runId, attempt, requestId, conclusion, this.now());
    return info.changes === 1;
  }

  /** Releases a claim taken by `claimRun` when ingestion failed half-way, so it can be retried. */
  releaseRun(runId: number, attempt: number): void {
    this.db.prepare(`DELETE FROM runs WHERE run_id = ? AND run_attempt = ?`).run(runId, attempt);
  }

  events(id: string): Array<{ from: RequestState | null; to: RequestState; note: string | null; at: number }> {
    return (this.db.prepare(`SELECT from_state, to_state, note, at FROM events WHERE request_id = ? ORDER BY seq`).all(id) as Array<{ from_state: string | null; to_state: string; note: string | null; at: number }>).map(
      (e) => ({ from: e.from_state as RequestState | null, to: e.to_state as RequestState, note: e.note, at: e.at }),
    );
  }

  private event(id: string, from: RequestState | null, to: RequestState, note: string | null): void {
    this.db.prepare(`INSERT INTO events (request_id, at, from_state, to_state, note) VALUES (?, ?, ?, ?, ?)`).run(id, this.now(), from, to, note);
  }
}
