/**
 * The request ledger: one SQLite file (better-sqlite3, synchronous, WAL), the bot's only state.
 *
 * - `requests.key` is UNIQUE: (θ1 repo@sha, θ0 repo@sha, settings). `insert` is an
 *   INSERT … ON CONFLICT DO NOTHING, so duplicate deliveries, redeliveries and the webhook
 *   racing the poller create one row, and only the caller that created it goes on.
 * - States move only along `ALLOWED`; `transition` is a compare-and-set on the current state,
 *   so two workers can never both move a request forward (e.g. both dispatch it).
 * - `deliveries` remembers delivery ids; `runs` remembers (run id, attempt) claimed for
 *   ingestion and whether the ingestion finished (`done`): a claim left open by a crash is
 *   resumed, never skipped.
 * - `outbox` holds every comment (and issue close) a transition owes the outside world,
 *   written in the same transaction as the transition, so a crash cannot lose one; each is
 *   marked `tries` before it is sent and `done` after (see ExpoService.flush).
 * - `requests.issue_pending` records that a tracking issue is being opened and
 *   `requests.pending_retry` that a run is being re-run, so a restart finds the one it may
 *   already have made instead of making a second.
 * - `events` is an append-only history of transitions, for the operator.
 *
 * Every step that talks to the outside world is therefore either recorded as in progress
 * before it happens (with what is needed to find its effect again) or made idempotent.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ExpoResults } from "../job/results.js";
import { scrubSecrets } from "../util/redact.js";
import type { RequestRecord, RequestSource, RequestState, RunRef } from "./types.js";
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
  issue_pending: number;
  pending_retry: string | null;
  created_at: number;
  updated_at: number;
}

/** A comment (or an issue close) owed to the outside world; see `Ledger.outbox`. */
export interface OutboxItem {
  seq: number;
  requestId: string;
  /** `issue`: a comment on the tracking issue; `hub`: on θ1's Hub thread; `close`: close the tracking issue. */
  target: "issue" | "hub" | "close";
  /** issue: the issue number; hub: θ1; close: the issue number. */
  where: string;
  /** The comment's body, or for `close` the state reason. */
  body: string;
  tries: number;
}

/** What a transition owes the outside world, written in the same transaction. */
export type Notice = Omit<OutboxItem, "seq" | "requestId" | "tries">;

const SCHEMA_VERSION = 2;

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
  issue_pending INTEGER NOT NULL DEFAULT 0,
  pending_retry TEXT,
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
  done INTEGER NOT NULL DEFAULT 0,
  tries INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, run_attempt)
);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL,
  target TEXT NOT NULL,
  "where" TEXT NOT NULL,
  body TEXT NOT NULL,
  tries INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(done, request_id);
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
    pendingRetry: r.pending_retry ? (JSON.parse(r.pending_retry) as RunRef) : null,
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
    if (version === 1) this.migrateFromV1();
    this.db.exec(SCHEMA);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.now = options.now ?? Date.now;
  }

  close(): void {
    this.db.close();
  }

  /** v1 → v2: the in-progress columns; v1's ingested runs were all finished (done = 1). */
  private migrateFromV1(): void {
    this.db.transaction(() => {
      this.db.exec(`ALTER TABLE requests ADD COLUMN issue_pending INTEGER NOT NULL DEFAULT 0`);
      this.db.exec(`ALTER TABLE requests ADD COLUMN pending_retry TEXT`);
      this.db.exec(`ALTER TABLE runs ADD COLUMN done INTEGER NOT NULL DEFAULT 1`);
      this.db.exec(`ALTER TABLE runs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0`);
    })();
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
   * machine forbids. In the same transaction: the patch, the run whose ingestion this
   * concludes (`completeRun`), and the comments the move owes (`notices`, computed from the
   * moved record), so none of them can be lost or done twice by a crash in between.
   */
  transition(
    id: string,
    from: RequestState,
    to: RequestState,
    patch: Partial<Pick<RequestRecord, "reasons" | "runId" | "runAttempt" | "result" | "pendingRetry">> & {
      note?: string;
      addRetry?: boolean;
      completeRun?: RunRef;
      notices?: (moved: RequestRecord) => Notice[];
    } = {},
  ): boolean {
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
    if (patch.pendingRetry !== undefined) {
      sets.push("pending_retry = @pendingRetry");
      params.pendingRetry = patch.pendingRetry === null ? null : JSON.stringify(patch.pendingRetry);
    }
    if (patch.addRetry) sets.push("retries = retries + 1");
    const tx = this.db.transaction(() => {
      const info = this.db.prepare(`UPDATE requests SET ${sets.join(", ")} WHERE id = @id AND state = @from`).run(params);
      if (info.changes !== 1) return false;
      this.event(id, from, to, patch.note ?? null);
      if (patch.completeRun) this.completeRun(patch.completeRun);
      if (patch.notices) for (const n of patch.notices(this.get(id)!)) this.enqueue(id, n);
      return true;
    });
    return tx();
  }

  /** Adds an item to the outbox (outside a transition: e.g. a comment owed by a refusal at intake). */
  enqueue(requestId: string, n: Notice): void {
    this.db.prepare(`INSERT INTO outbox (request_id, target, "where", body, created_at) VALUES (?, ?, ?, ?, ?)`).run(requestId, n.target, n.where, n.body, this.now());
  }

  /** Items not yet delivered, oldest first; for one request, or all. */
  outbox(requestId?: string): OutboxItem[] {
    const rows = (
      requestId
        ? this.db.prepare(`SELECT seq, request_id, target, "where", body, tries FROM outbox WHERE done = 0 AND request_id = ? ORDER BY seq`).all(requestId)
        : this.db.prepare(`SELECT seq, request_id, target, "where", body, tries FROM outbox WHERE done = 0 ORDER BY seq`).all()
    ) as Array<{ seq: number; request_id: string; target: OutboxItem["target"]; where: string; body: string; tries: number }>;
    return rows.map((r) => ({ seq: r.seq, requestId: r.request_id, target: r.target, where: r.where, body: r.body, tries: r.tries }));
  }

  /** Records that an item is about to be sent (a crash after this means: maybe sent, check first). */
  outboxAttempt(seq: number): void {
    this.db.prepare(`UPDATE outbox SET tries = tries + 1 WHERE seq = ?`).run(seq);
  }

  outboxDone(seq: number): void {
    this.db.prepare(`UPDATE outbox SET done = 1 WHERE seq = ?`).run(seq);
  }

  setTrackingIssue(id: string, issue: number): void {
    this.db.prepare(`UPDATE requests SET tracking_issue = ?, issue_pending = 0, updated_at = ? WHERE id = ?`).run(issue, this.now(), id);
  }

  /**
   * Records that a tracking issue is about to be opened; returns whether an earlier attempt
   * was recorded and never finished (then the issue may exist: look for it first).
   */
  beginTrackingIssue(id: string): boolean {
    const row = this.db.prepare(`SELECT issue_pending FROM requests WHERE id = ?`).get(id) as { issue_pending: number } | undefined;
    this.db.prepare(`UPDATE requests SET issue_pending = 1 WHERE id = ?`).run(id);
    return row?.issue_pending === 1;
  }

  /** A re-run has been started (or found): the pending retry is over. */
  setRetried(id: string, run: RunRef | null): void {
    this.db.prepare(`UPDATE requests SET pending_retry = NULL, run_id = ?, run_attempt = ?, updated_at = ? WHERE id = ?`).run(run?.runId ?? null, run?.attempt ?? null, this.now(), id);
  }

  setRun(id: string, runId: number | null, attempt: number | null): void {
    this.db.prepare(`UPDATE requests SET run_id = ?, run_attempt = ?, updated_at = ? WHERE id = ?`).run(runId, attempt, this.now(), id);
  }

  hasDelivery(id: string): boolean {
    return this.db.prepare(`SELECT 1 FROM deliveries WHERE id = ?`).get(id) !== undefined;
  }

  /** Remembers a delivery id; returns false when it was seen before. */
  rememberDelivery(id: string, source: string): boolean {
    const info = this.db.prepare(`INSERT INTO deliveries (id, source, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`).run(id, source, this.now());
    return info.changes === 1;
  }

  /**
   * Claims (run id, attempt) for ingestion. `new`: first claim; `resume`: claimed before and
   * never finished (a crash or a transient error mid-ingestion: ingest again); `done`: already
   * ingested (a redelivery: nothing to do). Counts the tries.
   */
  claimRun(runId: number, attempt: number, requestId: string, conclusion: string | null): { status: "new" | "resume" | "done"; tries: number } {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(`INSERT INTO runs (run_id, run_attempt, request_id, conclusion, processed_at, tries) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`)
        .run(runId, attempt, requestId, conclusion, this.now());
      if (info.changes === 1) return { status: "new" as const, tries: 1 };
      const row = this.db.prepare(`SELECT done, tries FROM runs WHERE run_id = ? AND run_attempt = ?`).get(runId, attempt) as { done: number; tries: number };
      if (row.done === 1) return { status: "done" as const, tries: row.tries };
      this.db.prepare(`UPDATE runs SET tries = tries + 1 WHERE run_id = ? AND run_attempt = ?`).run(runId, attempt);
      return { status: "resume" as const, tries: row.tries + 1 };
    })();
  }

  /** Marks (run id, attempt) ingested; normally inside the concluding `transition`. */
  completeRun(run: RunRef): void {
    this.db.prepare(`UPDATE runs SET done = 1 WHERE run_id = ? AND run_attempt = ?`).run(run.runId, run.attempt);
  }

  /** Whether (run id, attempt) was claimed and never finished. */
  runPending(run: RunRef): boolean {
    return this.db.prepare(`SELECT 1 FROM runs WHERE run_id = ? AND run_attempt = ? AND done = 0`).get(run.runId, run.attempt) !== undefined;
  }

  events(id: string): Array<{ from: RequestState | null; to: RequestState; note: string | null; at: number }> {
    return (this.db.prepare(`SELECT from_state, to_state, note, at FROM events WHERE request_id = ? ORDER BY seq`).all(id) as Array<{ from_state: string | null; to_state: string; note: string | null; at: number }>).map(
      (e) => ({ from: e.from_state as RequestState | null, to: e.to_state as RequestState, note: e.note, at: e.at }),
    );
  }

  private event(id: string, from: RequestState | null, to: RequestState, note: string | null): void {
    this.db.prepare(`INSERT INTO events (request_id, at, from_state, to_state, note) VALUES (?, ?, ?, ?, ?)`).run(id, this.now(), from, to, note === null ? null : scrubSecrets(note));
  }
}
