/**
 * The bot's logic, free of Probot: intake (one function for the Hub webhook, the poller, the
 * issue form and `/expo`), the per-request state machine driven by `advance`, result
 * ingestion (`onRunCompleted`) and start-up reconciliation. Every outside service is injected
 * (see types.ts), so tests drive it with doubles and the lead's integration test drives it
 * with the local Hub and the in-process dispatcher.
 */
import { errorMessage as rawErrorMessage } from "../util/errors.js";
import { scrubSecrets } from "../util/redact.js";
import { parseResults, ResultsError } from "../job/results.js";
import type { BotConfig } from "./config.js";
import { plainRenderer } from "./comments.js";
import type { Ledger, Notice } from "./ledger.js";
import { checkResultsForRequest } from "./results-check.js";
import { ZipError } from "./zip.js";
import { isExpoOutput, isTagged, readCardRequest, requestIdOf, requestKey } from "./request.js";
import type {
  BotHub,
  CommentContext,
  CommentRenderer,
  Dispatcher,
  HubDiscussions,
  HubModelInfo,
  IssueTracker,
  Logger,
  Precheck,
  PrecheckVerdict,
  RequestCandidate,
  RequestRecord,
  RequestState,
  RunInfo,
} from "./types.js";
import { TERMINAL_STATES } from "./types.js";

export interface ServiceDeps {
  config: BotConfig;
  ledger: Ledger;
  hub: BotHub;
  precheck: Precheck;
  issues: IssueTracker;
  dispatcher: Dispatcher;
  discussions?: HubDiscussions;
  renderer?: CommentRenderer;
  log?: Logger;
  now?: () => number;
}

export type IntakeOutcome =
  /** Not a request at all (untagged repo, our own output, a delivery seen before). */
  | { status: "ignored"; reason: string }
  /** A request the bot will not record: unauthorised, over quota, unreadable model. Tell the requester. */
  | { status: "rejected"; reason: string }
  /** The same request (same key) exists: nothing new starts. */
  | { status: "duplicate"; request: RequestRecord }
  | { status: "accepted"; request: RequestRecord };

const DAY_MS = 24 * 3600_000;

/** An error's message with any secret removed: these messages reach comments, the ledger and logs. */
const errorMessage = (err: unknown): string => scrubSecrets(rawErrorMessage(err));
/** Tries at ingesting one run before the requester is told it failed. */
const MAX_INGEST_TRIES = 3;
/** Tries at delivering one comment before it is given up (logged). */
const MAX_OUTBOX_TRIES = 5;
const WRITE_PERMISSIONS = new Set(["admin", "maintain", "write"]);

const silent: Logger = { info() {}, warn() {}, error() {} };

/** 401/403/404 (missing, private, gated): the answer will not change by retrying. */
export function isPermanentHubError(err: unknown): boolean {
  const status = (err as { status?: unknown })?.status;
  return status === 401 || status === 403 || status === 404;
}

/** An ingestion error that reading the artifact again will not fix: schema, zip, size, a claim beyond its request. */
function isPermanentIngestError(err: unknown): boolean {
  if (err instanceof ResultsError || err instanceof ZipError) return true;
  const status = (err as { status?: unknown })?.status;
  return status === 404 || status === 410 || status === 413;
}

export class ExpoService {
  readonly config: BotConfig;
  readonly ledger: Ledger;
  private readonly deps: ServiceDeps;
  private readonly renderer: CommentRenderer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(deps: ServiceDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.ledger = deps.ledger;
    this.renderer = deps.renderer ?? plainRenderer;
    this.log = deps.log ?? silent;
    this.now = deps.now ?? Date.now;
  }

  /** May this GitHub user request? Write access to the home repo, or listed in the config. */
  async authorize(login: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (this.config.allowedUsers.includes(login.toLowerCase())) return { ok: true };
    let permission = "none";
    try {
      permission = await this.deps.issues.permission(login);
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
    if (WRITE_PERMISSIONS.has(permission)) return { ok: true };
    return {
      ok: false,
      reason: `@${login} cannot request ExPO runs here: only people with write access to ${this.config.homeRepo} or listed by the operator (EXPO_ALLOWED_USERS) can. Tag the model with \`expo\` on the Hub instead.`,
    };
  }

  /**
   * The one intake. Resolves revisions, reads θ0/α from the card when the candidate does not
   * name them, computes the key, applies quotas and records the request once; then advances
   * it (tracking issue, size limit, precheck, dispatch). GitHub candidates must have been
   * authorised by the caller (`authorize`).
   */
  async intake(c: RequestCandidate): Promise<IntakeOutcome> {
    if (c.deliveryId && this.ledger.hasDelivery(c.deliveryId)) return { status: "ignored", reason: `delivery ${c.deliveryId} seen before` };
    const outcome = await this.intakeOnce(c);
    if (c.deliveryId) this.ledger.rememberDelivery(c.deliveryId, c.source);
    this.log.info({ source: c.source, theta1: c.theta1, status: outcome.status, request: "request" in outcome ? outcome.request.id : undefined }, "intake");
    if (outcome.status === "accepted") {
      const request = await this.advance(outcome.request.id);
      return { status: "accepted", request };
    }
    return outcome;
  }

  private async intakeOnce(c: RequestCandidate): Promise<IntakeOutcome> {
    const fromHub = c.source === "hub-webhook" || c.source === "hub-poll";
    let info1: HubModelInfo;
    try {
      info1 = await this.deps.hub.modelInfo(c.theta1, c.theta1Revision);
    } catch (err) {
      if (!isPermanentHubError(err)) {
        if (fromHub) throw err; // the poller (or a redelivery) tries again later
        return { status: "rejected", reason: `the Hub did not answer for \`${c.theta1}\` (${errorMessage(err)}); please try again later.` };
      }
      if (fromHub) return { status: "ignored", reason: `cannot read ${c.theta1}: ${errorMessage(err)}` };
      return { status: "rejected", reason: `I cannot read the model \`${c.theta1}\` on the Hub (${errorMessage(err)}). Is the name right, and is it public?` };
    }
    if (fromHub && !isTagged(info1)) return { status: "ignored", reason: `${c.theta1} is not tagged expo` };
    if (isExpoOutput(info1, this.config.botNamespace)) return { status: fromHub ? "ignored" : "rejected", reason: `\`${c.theta1}\` is itself an ExPO output (base_model lists two models, relation merge)` };

    const card = readCardRequest(info1);
    const reasons: string[] = [];
    let theta0 = c.theta0 ?? card.theta0;
    const alpha = c.alpha ?? card.alpha;
    if (!c.theta0 && !card.theta0) reasons.push(...card.problems);
    else if (c.alpha === undefined && card.alpha === null) reasons.push(...card.problems.filter((p) => p.includes("expo-alpha")));
    let theta0Sha: string | null = null;
    if (theta0) {
      try {
        theta0Sha = (await this.deps.hub.modelInfo(theta0)).sha;
      } catch (err) {
        if (!isPermanentHubError(err)) {
          if (fromHub) throw err;
          return { status: "rejected", reason: `the Hub did not answer for \`${theta0}\` (${errorMessage(err)}); please try again later.` };
        }
        reasons.push(`the SFT parent \`${theta0}\` cannot be read on the Hub (${errorMessage(err)})`);
      }
    } else theta0 = null;
    if (theta0 && theta0 === info1.id) reasons.push("θ0 and θ1 are the same repository");

    const fields = { theta1: info1.id, theta1Sha: info1.sha, theta0, theta0Sha, alpha };
    const key = requestKey(fields);
    const existing = this.ledger.byKey(key);
    if (existing) return { status: "duplicate", request: existing };
    // Whom quotas count: for Hub requests the owner of the repo as the Hub names it (not as the
    // payload spelled it), case-folded so that spelling cannot make a new requester.
    const requester = fromHub ? `hub:${info1.id.split("/")[0].toLowerCase()}` : c.requester;

    // Quotas: counted and recorded with no await in between, so concurrent intakes cannot overshoot.
    if (reasons.length === 0) {
      const over = this.overQuota(requester);
      if (over) {
        // A GitHub requester is answered on their issue; a Hub requester has no issue to be
        // answered on, so the request is recorded as refused and told on θ1's thread
        // (refusals do not count against quotas).
        if (!fromHub) return { status: "rejected", reason: over };
        reasons.push(`${over} Push a new commit (or tag it again) after that to request again.`);
      }
    }
    const { record, created } = this.ledger.insert({
      id: requestIdOf(key),
      key,
      ...fields,
      source: c.source,
      requester,
      trackingIssue: c.issueNumber ?? null,
      reasons,
    });
    return created ? { status: "accepted", request: record } : { status: "duplicate", request: record };
  }

  /** Why `requester` may not make a request now, or null. */
  private overQuota(requester: string): string | null {
    const since = this.now() - DAY_MS;
    const mine = this.ledger.countSince(since, requester);
    if (mine >= this.config.quotaPerRequester) {
      return `quota exceeded: ${requester.replace(/^\w+:/, "")} has made ${mine} requests in the last 24 hours (limit ${this.config.quotaPerRequester}). Try again later.`;
    }
    const all = this.ledger.countSince(since);
    if (all >= this.config.quotaGlobal) return `quota exceeded: the bot has taken ${all} requests in the last 24 hours (limit ${this.config.quotaGlobal}). Try again later.`;
    return null;
  }

  /** Moves a request forward as far as it can go without waiting for a run. Serialised per request. */
  advance(id: string): Promise<RequestRecord> {
    return this.withLock(id, () => this.advanceUnlocked(id));
  }

  private async advanceUnlocked(id: string): Promise<RequestRecord> {
    for (;;) {
      const r = this.mustGet(id);
      if (r.state === "received") {
        await this.ensureTrackingIssue(r);
        let checked: { refusal: string[] } | { verdict: PrecheckVerdict };
        try {
          checked = await this.check(r);
        } catch (err) {
          // Transient (permanent Hub errors are refusals already): the request stays `received`
          // and reconciliation tries again, until precheckGiveUpMs after it was received.
          const waited = this.now() - r.createdAt;
          if (waited < this.config.precheckGiveUpMs) throw err;
          const hours = Math.round(waited / 3600_000);
          const message =
            `the pair could not be checked for ${hours} hour${hours === 1 ? "" : "s"} (last error: ${errorMessage(err)}). ` +
            "Push a new commit (or tag it again) to request again";
          this.move(this.mustGet(id), "failed", { note: message }, { kind: "failed", failure: { message, willRetry: false, step: "pre-check" } });
          continue;
        }
        if ("refusal" in checked) {
          this.move(this.mustGet(id), "refused", { reasons: checked.refusal }, { kind: "refused" });
          continue;
        }
        const { verdict } = checked;
        if (verdict.verdict === "refuse") {
          this.move(this.mustGet(id), "refused", { reasons: verdict.reasons, note: "precheck refused" }, { kind: "refused" });
          continue;
        }
        this.move(this.mustGet(id), "prechecked", { reasons: verdict.reasons, note: `precheck ${verdict.verdict}` }, { kind: "received" });
        await this.flush(id);
        continue;
      }
      if (r.state === "prechecked") {
        await this.dispatch(r, "prechecked");
        continue;
      }
      await this.flush(id);
      return this.mustGet(id);
    }
  }

  /** Refusal reasons (known at intake, or the size limit's), else the pre-check's verdict. Throws on a transient error. */
  private async check(r: RequestRecord): Promise<{ refusal: string[] } | { verdict: PrecheckVerdict }> {
    const refusal = r.reasons.length > 0 ? r.reasons : await this.screen(r);
    if (refusal.length > 0) return { refusal };
    return { verdict: await this.deps.precheck({ theta1: r.theta1, theta1Sha: r.theta1Sha, theta0: r.theta0!, theta0Sha: r.theta0Sha! }) };
  }

  /** The size limit: parameters counted from θ1's safetensors headers. */
  private async screen(r: RequestRecord): Promise<string[]> {
    let params: number | null;
    let sized = `\`${r.theta1}\``;
    try {
      params = await this.deps.hub.parameterCount(r.theta1, r.theta1Sha);
      // A LoRA adapter θ1 has no full weights: the job loads θ0, so θ0's size is the one to limit.
      if (params === null && r.theta0 && r.theta0Sha && (await this.deps.hub.isAdapter?.(r.theta1, r.theta1Sha))) {
        params = await this.deps.hub.parameterCount(r.theta0, r.theta0Sha);
        sized = `\`${r.theta1}\` is a LoRA adapter on \`${r.theta0}\`, which`;
      }
    } catch (err) {
      // Transient: stay `received`; the periodic reconciliation tries again.
      if (!isPermanentHubError(err)) throw err;
      return [`the weights of \`${r.theta1}\` cannot be read (${errorMessage(err)})`];
    }
    if (params === null) return [`\`${r.theta1}\` has no safetensors weights; ExPO Bot reads only safetensors`];
    if (params > this.config.maxParams) {
      return [
        `${sized} has ${(params / 1e9).toFixed(2)} B parameters; this bot takes models up to ${(this.config.maxParams / 1e9).toFixed(2)} B. ` +
          `Run it yourself with \`expo-bot extrapolate\` and \`expo-bot search\` (a large model can generate on an existing vLLM server), or ask the operator to raise EXPO_MAX_PARAMS.`,
      ];
    }
    return [];
  }

  /**
   * prechecked → dispatched, then the dispatch. A crash between the two leaves `dispatched`
   * with no run: reconciliation looks the run up by its run-name (the dispatch may have
   * reached GitHub) and dispatches again only when none appeared within `lostDispatchMs`.
   */
  private async dispatch(r: RequestRecord, from: "prechecked" | "dispatched" | "running"): Promise<void> {
    if (!this.ledger.transition(r.id, from, "dispatched", { runId: null, runAttempt: null, note: from === "prechecked" ? "dispatch" : "re-dispatch" })) return;
    let run: RunInfo | null;
    try {
      run = await this.deps.dispatcher.dispatch(this.mustGet(r.id));
    } catch (err) {
      this.log.error({ request: r.id, err: errorMessage(err) }, "dispatch failed");
      this.move(this.mustGet(r.id), "failed", { note: `dispatch failed: ${errorMessage(err)}` }, { kind: "failed", failure: { message: `the job could not be started (${errorMessage(err)})`, willRetry: false } });
      await this.flush(r.id);
      return;
    }
    if (run) this.ledger.setRun(r.id, run.runId, run.attempt);
  }

  /**
   * A transition with the comments it owes, in one ledger transaction (see Ledger.outbox).
   * Returns false when another worker moved the request first.
   */
  private move(
    r: RequestRecord,
    to: RequestState,
    patch: Parameters<Ledger["transition"]>[3],
    notice: { kind: keyof CommentRenderer; failure?: CommentContext["failure"]; runUrl?: string },
  ): boolean {
    return this.ledger.transition(r.id, r.state, to, { ...patch, notices: (moved) => this.notices(moved, notice.kind, notice.failure, notice.runUrl) });
  }

  /** `workflow_run` in progress: dispatched → running. */
  async onRunStarted(run: { runId: number; attempt: number; requestId?: string | null; url?: string }): Promise<void> {
    const r = this.findForRun(run.runId, run.requestId);
    if (!r) return;
    await this.withLock(r.id, async () => {
      const cur = this.mustGet(r.id);
      if (cur.runId === null) this.ledger.setRun(cur.id, run.runId, run.attempt);
      if (cur.state === "dispatched") this.ledger.transition(cur.id, "dispatched", "running", { runId: run.runId, runAttempt: run.attempt });
    });
  }

  /**
   * `workflow_run` completed, keyed by (run id, attempt): each pair is ingested once however
   * often the event is delivered. Success → results.json → published | no-gain (| failed when
   * the job reports a failure). Failure → one automatic retry when it was the infrastructure's.
   *
   * Crash-safe: the claim is recorded before ingestion and marked done in the same ledger
   * transaction as the concluding transition; a claim left open (a crash, a transient error)
   * is resumed by the next delivery or reconciliation, never skipped.
   */
  async onRunCompleted(run: { runId: number; attempt: number; conclusion: string | null; requestId?: string | null; url?: string }): Promise<void> {
    const found = this.findForRun(run.runId, run.requestId);
    if (!found) return;
    await this.withLock(found.id, async () => {
      const r = this.mustGet(found.id);
      if (TERMINAL_STATES.includes(r.state)) return;
      if (r.runId !== null && r.runId !== run.runId) return; // a stale run of an earlier dispatch
      if (r.pendingRetry) return; // its re-run is being started; resumeRetry owns it
      if (r.runId === null) this.ledger.setRun(r.id, run.runId, run.attempt);
      const claim = this.ledger.claimRun(run.runId, run.attempt, r.id, run.conclusion);
      if (claim.status === "done") return;
      try {
        await this.ingest(this.mustGet(r.id), run);
      } catch (err) {
        // Transient (GitHub down, a network error): the claim stays open for the next try, up
        // to MAX_INGEST_TRIES; then the requester is told instead of waiting for ever.
        if (claim.tries < MAX_INGEST_TRIES) throw err;
        const message = `the run's results could not be read after ${claim.tries} tries (${errorMessage(err)})`;
        this.move(this.mustGet(r.id), "failed", { runAttempt: run.attempt, note: message, completeRun: run }, { kind: "failed", failure: { message, willRetry: false }, runUrl: run.url });
      }
      await this.flush(r.id);
    });
  }

  private async ingest(r: RequestRecord, run: { runId: number; attempt: number; conclusion: string | null; url?: string }): Promise<void> {
    const done = { runAttempt: run.attempt, completeRun: { runId: run.runId, attempt: run.attempt } };
    if (run.conclusion === "success") {
      let message: string;
      try {
        const text = await this.deps.dispatcher.downloadResults(run);
        if (text === null) throw new ResultsError("the run succeeded but left no results artifact");
        const results = parseResults(text);
        const problems = checkResultsForRequest({ results, request: r, hubUrl: this.config.hubUrl, namespace: this.config.botNamespace });
        if (problems.length > 0) throw new ResultsError(`results.json does not answer this request: ${problems.join("; ")}`);
        if (results.outcome === "failed") {
          message = `step ${results.error?.step ?? "?"} failed: ${results.error?.message ?? "no message"}`;
          this.move(r, "failed", { ...done, result: results, note: message }, { kind: "failed", failure: { message, willRetry: false }, runUrl: run.url });
          return;
        }
        this.move(r, results.outcome, { ...done, result: results }, { kind: "result", runUrl: run.url });
        return;
      } catch (err) {
        // A bad artifact (schema, size, zip, a claim beyond its request) will not get better by
        // reading it again: the request fails now and the requester is told why.
        if (!isPermanentIngestError(err)) throw err;
        message = errorMessage(err);
      }
      this.move(r, "failed", { ...done, note: message }, { kind: "failed", failure: { message, willRetry: false }, runUrl: run.url });
      return;
    }
    const { kind, detail } = await this.deps.dispatcher.classifyFailure(run);
    const canRetry = kind === "infrastructure" && r.retries < this.config.maxInfraRetries;
    let message = `the run ended as ${run.conclusion ?? "unknown"} (${detail})`;
    if (kind === "job") {
      // A job that failed cleanly still uploads results.json with the failing step and message.
      const reported = await this.failureFromResults(r, run);
      if (reported) message = reported;
    }
    if (canRetry) {
      // Recorded before the re-run is started, with the run it re-runs: a crash in between is
      // resumed by `resumeRetry` (which first looks for the re-run it may have started).
      const pendingRetry = { runId: run.runId, attempt: run.attempt };
      if (!this.move(r, "dispatched", { ...done, pendingRetry, addRetry: true, note: `retry after ${kind} failure: ${detail}` }, { kind: "failed", failure: { message, willRetry: true }, runUrl: run.url })) return;
      await this.resumeRetry(this.mustGet(r.id), false);
      return;
    }
    this.move(r, "failed", { ...done, note: message }, { kind: "failed", failure: { message, willRetry: false }, runUrl: run.url });
  }

  /**
   * Starts the re-run recorded in `pendingRetry`. When resuming after a restart
   * (`maybeStarted`), first looks for a re-run the dead process may already have started.
   */
  private async resumeRetry(r: RequestRecord, maybeStarted = true): Promise<void> {
    const pending = r.pendingRetry;
    if (!pending || r.state !== "dispatched") return;
    const existing = maybeStarted ? await this.deps.dispatcher.findRun(r) : null;
    if (existing && (existing.runId !== pending.runId || existing.attempt > pending.attempt)) {
      this.ledger.setRetried(r.id, existing);
      return;
    }
    try {
      const next = await this.deps.dispatcher.retry(r, pending);
      // A retry may be a new run whose id is not known yet: cleared, so the run is correlated by name.
      this.ledger.setRetried(r.id, next);
    } catch (err) {
      const m = `the retry could not be started (${errorMessage(err)})`;
      this.move(r, "failed", { note: m, pendingRetry: null }, { kind: "failed", failure: { message: m, willRetry: false } });
      await this.flush(r.id);
    }
  }

  private async failureFromResults(r: RequestRecord, run: { runId: number; attempt: number }): Promise<string | null> {
    try {
      const text = await this.deps.dispatcher.downloadResults(run);
      if (text === null) return null;
      const results = parseResults(text);
      if (results.requestId !== r.id || !results.error) return null;
      return `step ${results.error.step} failed: ${results.error.message}`;
    } catch {
      return null;
    }
  }

  /**
   * Start-up (and periodically): every open request is brought up to date, so a restart loses
   * nothing. received/prechecked → advanced again; a pending re-run → resumed;
   * dispatched/running → its run is looked up and, when completed, ingested (a claim a crash
   * left open included); a dispatch that never produced a run is dispatched again. Then every
   * comment still owed (the outbox) is delivered.
   */
  async reconcile(): Promise<void> {
    for (const r of this.ledger.open()) {
      try {
        if (r.state === "received" || r.state === "prechecked") {
          await this.advance(r.id);
          continue;
        }
        if (r.pendingRetry) {
          await this.withLock(r.id, () => this.resumeRetry(this.mustGet(r.id)));
          continue;
        }
        const run = await this.deps.dispatcher.findRun(r);
        if (!run) {
          if (r.runId === null && this.now() - r.updatedAt >= this.config.lostDispatchMs) {
            await this.withLock(r.id, () => this.dispatch(this.mustGet(r.id), r.state as "dispatched" | "running"));
          }
          continue;
        }
        if (run.status === "completed") await this.onRunCompleted({ ...run, requestId: r.id });
        else if (run.status === "in_progress") await this.onRunStarted({ ...run, requestId: r.id });
        else if (r.runId === null) this.ledger.setRun(r.id, run.runId, run.attempt);
      } catch (err) {
        this.log.error({ request: r.id, err: errorMessage(err) }, "reconcile failed");
      }
    }
    const owed = new Set(this.ledger.outbox().map((o) => o.requestId));
    for (const id of owed) await this.withLock(id, () => this.flush(id));
  }

  private findForRun(runId: number, requestId?: string | null): RequestRecord | null {
    return this.ledger.byRun(runId) ?? (requestId ? this.ledger.get(requestId) : null);
  }

  /**
   * Opens the tracking issue once. The attempt is recorded first; after a crash mid-way the
   * issue is looked up by the request id in its title before another is opened.
   */
  private async ensureTrackingIssue(r: RequestRecord): Promise<void> {
    if (r.trackingIssue !== null) return;
    if (this.ledger.beginTrackingIssue(r.id)) {
      const found = await this.deps.issues.findIssue(r.id);
      if (found !== null) {
        this.ledger.setTrackingIssue(r.id, found);
        return;
      }
    }
    const title = `ExPO: ${r.theta1}${r.theta0 ? ` ← ${r.theta0}` : ""} (${r.id})`;
    const body =
      `Tracking issue for ExPO request \`${r.id}\` (from ${r.source}).\n\n` +
      `- θ1 (aligned): \`${r.theta1}\` @ \`${r.theta1Sha}\`\n` +
      `- θ0 (SFT parent): ${r.theta0 ? `\`${r.theta0}\` @ \`${r.theta0Sha ?? "?"}\`` : "(none)"}\n` +
      `- α: ${r.alpha === null ? "searched" : r.alpha}\n\nThe bot comments here as the request moves on.`;
    const n = await this.deps.issues.createIssue(title, body, ["expo-tracking"]);
    this.ledger.setTrackingIssue(r.id, n);
  }

  /**
   * What a transition owes: a comment on the tracking issue, on θ1's Hub thread (per policy),
   * and closing a bot-owned issue at the end. Rendered now (from the moved record), delivered
   * by `flush`.
   */
  private notices(r: RequestRecord, kind: keyof CommentRenderer, failure?: CommentContext["failure"], runUrl?: string): Notice[] {
    const ctx: CommentContext = { request: r, homeRepo: this.config.homeRepo, failure, runUrl };
    const body = this.renderer[kind](ctx);
    const out: Notice[] = [];
    if (r.trackingIssue !== null) out.push({ target: "issue", where: String(r.trackingIssue), body });
    const fromHub = r.source === "hub-webhook" || r.source === "hub-poll";
    if (this.deps.discussions && (fromHub || (kind === "result" && this.config.hubCommentsForGitHubRequests))) out.push({ target: "hub", where: r.theta1, body });
    const ownsIssue = r.source !== "github-comment";
    if (ownsIssue && r.trackingIssue !== null && TERMINAL_STATES.includes(r.state)) out.push({ target: "close", where: String(r.trackingIssue), body: r.state === "published" ? "completed" : "not_planned" });
    return out;
  }

  /**
   * Delivers what the outbox holds for a request, in order. Each item is marked as tried
   * before it is sent; an item tried before (the process may have died after sending it) is
   * first looked for by its hidden marker, so a replay never posts twice. A failed item stays
   * for the next reconciliation, up to MAX_OUTBOX_TRIES.
   */
  private async flush(id: string): Promise<void> {
    for (const item of this.ledger.outbox(id)) {
      const marker = `<!-- expo-bot-event:${item.requestId}:${item.seq} -->`;
      const body = `${item.body}\n${marker}`;
      try {
        if (item.tries >= MAX_OUTBOX_TRIES) {
          this.log.error({ request: id, target: item.target }, "giving up on a comment after repeated failures");
          this.ledger.outboxDone(item.seq);
          continue;
        }
        const maybeSent = item.tries > 0;
        this.ledger.outboxAttempt(item.seq);
        if (item.target === "issue") {
          const issue = Number(item.where);
          if (!(maybeSent && (await this.deps.issues.hasComment(issue, marker)))) await this.deps.issues.comment(issue, body);
        } else if (item.target === "hub") {
          const d = this.deps.discussions!;
          if (!(maybeSent && d.hasPosted && (await d.hasPosted(item.where, marker)))) await d.post(item.where, body);
        } else {
          await this.deps.issues.close(Number(item.where), item.body as "completed" | "not_planned");
        }
        this.ledger.outboxDone(item.seq);
      } catch (err) {
        // An answer that will not change (discussions disabled on θ1) is not retried.
        const permanent = (err as { permanent?: boolean }).permanent === true;
        if (permanent) this.ledger.outboxDone(item.seq);
        this.log.warn({ request: id, target: item.target, err: errorMessage(err) }, permanent ? "comment not delivered" : "comment not delivered; will retry");
      }
    }
  }

  private mustGet(id: string): RequestRecord {
    const r = this.ledger.get(id);
    if (!r) throw new Error(`request ${id} is not in the ledger`);
    return r;
  }

  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => {});
    this.locks.set(id, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    }
  }
}
