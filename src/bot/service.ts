/**
 * The bot's logic, free of Probot: intake (one function for the Hub webhook, the poller, the
 * issue form and `/expo`), the per-request state machine driven by `advance`, result
 * ingestion (`onRunCompleted`) and start-up reconciliation. Every outside service is injected
 * (see types.ts), so tests drive it with doubles and the lead's integration test drives it
 * with the local Hub and the in-process dispatcher.
 */
import { errorMessage } from "../util/errors.js";
import { parseResults, ResultsError } from "../job/results.js";
import type { BotConfig } from "./config.js";
import { plainRenderer } from "./comments.js";
import type { Ledger } from "./ledger.js";
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
/** A dispatched request with no run found after this long is dispatched again at reconciliation. */
const LOST_DISPATCH_MS = 10 * 60_000;
const WRITE_PERMISSIONS = new Set(["admin", "maintain", "write"]);

const silent: Logger = { info() {}, warn() {}, error() {} };

/** 401/403/404 (missing, private, gated): the answer will not change by retrying. */
export function isPermanentHubError(err: unknown): boolean {
  const status = (err as { status?: unknown })?.status;
  return status === 401 || status === 403 || status === 404;
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

    // Quotas: counted and recorded with no await in between, so concurrent intakes cannot overshoot.
    if (reasons.length === 0) {
      const since = this.now() - DAY_MS;
      const mine = this.ledger.countSince(since, c.requester);
      if (mine >= this.config.quotaPerRequester) {
        return { status: "rejected", reason: `quota exceeded: ${c.requester.replace(/^\w+:/, "")} has made ${mine} requests in the last 24 hours (limit ${this.config.quotaPerRequester}). Try again later.` };
      }
      const all = this.ledger.countSince(since);
      if (all >= this.config.quotaGlobal) {
        return { status: "rejected", reason: `quota exceeded: the bot has taken ${all} requests in the last 24 hours (limit ${this.config.quotaGlobal}). Try again later.` };
      }
    }
    const { record, created } = this.ledger.insert({
      id: requestIdOf(key),
      key,
      ...fields,
      source: c.source,
      requester: c.requester,
      trackingIssue: c.issueNumber ?? null,
      reasons,
    });
    return created ? { status: "accepted", request: record } : { status: "duplicate", request: record };
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
        const refusal = r.reasons.length > 0 ? r.reasons : await this.screen(r);
        if (refusal.length > 0) {
          if (this.ledger.transition(id, "received", "refused", { reasons: refusal })) await this.report(this.mustGet(id), "refused");
          continue;
        }
        const verdict = await this.deps.precheck({ theta1: r.theta1, theta1Sha: r.theta1Sha, theta0: r.theta0!, theta0Sha: r.theta0Sha! });
        if (verdict.verdict === "refuse") {
          if (this.ledger.transition(id, "received", "refused", { reasons: verdict.reasons, note: "precheck refused" })) await this.report(this.mustGet(id), "refused");
          continue;
        }
        if (this.ledger.transition(id, "received", "prechecked", { reasons: verdict.reasons, note: `precheck ${verdict.verdict}` })) await this.report(this.mustGet(id), "received");
        continue;
      }
      if (r.state === "prechecked") {
        await this.dispatch(r, "prechecked");
        continue;
      }
      return r;
    }
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

  private async dispatch(r: RequestRecord, from: "prechecked" | "dispatched" | "running"): Promise<void> {
    if (!this.ledger.transition(r.id, from, "dispatched", { runId: null, runAttempt: null, note: from === "prechecked" ? "dispatch" : "re-dispatch" })) return;
    let run: RunInfo | null;
    try {
      run = await this.deps.dispatcher.dispatch(this.mustGet(r.id));
    } catch (err) {
      this.log.error({ request: r.id, err: errorMessage(err) }, "dispatch failed");
      if (this.ledger.transition(r.id, "dispatched", "failed", { reasons: [...r.reasons], note: `dispatch failed: ${errorMessage(err)}` })) {
        await this.report(this.mustGet(r.id), "failed", { message: `the job could not be started (${errorMessage(err)})`, willRetry: false });
      }
      return;
    }
    if (run) this.ledger.setRun(r.id, run.runId, run.attempt);
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
   */
  async onRunCompleted(run: { runId: number; attempt: number; conclusion: string | null; requestId?: string | null; url?: string }): Promise<void> {
    const found = this.findForRun(run.runId, run.requestId);
    if (!found) return;
    await this.withLock(found.id, async () => {
      const r = this.mustGet(found.id);
      if (TERMINAL_STATES.includes(r.state)) return;
      if (r.runId !== null && r.runId !== run.runId) return; // a stale run of an earlier dispatch
      if (r.runId === null) this.ledger.setRun(r.id, run.runId, run.attempt);
      if (!this.ledger.claimRun(run.runId, run.attempt, r.id, run.conclusion)) return;
      try {
        await this.ingest(this.mustGet(r.id), run);
      } catch (err) {
        this.ledger.releaseRun(run.runId, run.attempt);
        throw err;
      }
    });
  }

  private async ingest(r: RequestRecord, run: { runId: number; attempt: number; conclusion: string | null; url?: string }): Promise<void> {
    const from = r.state as RequestState;
    if (run.conclusion === "success") {
      const text = await this.deps.dispatcher.downloadResults(run);
      let message: string;
      if (text === null) message = "the run succeeded but left no results artifact";
      else {
        try {
          const results = parseResults(text);
          if (results.requestId !== r.id) throw new ResultsError(`results.json is for request ${results.requestId}, not ${r.id}`);
          if (results.outcome === "failed") {
            message = `step ${results.error?.step ?? "?"} failed: ${results.error?.message ?? "no message"}`;
            if (this.ledger.transition(r.id, from, "failed", { result: results, runAttempt: run.attempt, note: message })) {
              await this.report(this.mustGet(r.id), "failed", { message, willRetry: false }, run.url);
            }
            return;
          }
          const to: RequestState = results.outcome;
          if (this.ledger.transition(r.id, from, to, { result: results, runAttempt: run.attempt })) await this.report(this.mustGet(r.id), "result", undefined, run.url);
          return;
        } catch (err) {
          if (!(err instanceof ResultsError)) throw err;
          message = err.message;
        }
      }
      if (this.ledger.transition(r.id, from, "failed", { runAttempt: run.attempt, note: message })) await this.report(this.mustGet(r.id), "failed", { message, willRetry: false }, run.url);
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
      if (!this.ledger.transition(r.id, from, "dispatched", { runAttempt: run.attempt, note: `retry after ${kind} failure: ${detail}` })) return;
      this.ledger.incrementRetries(r.id);
      await this.report(this.mustGet(r.id), "failed", { message, willRetry: true }, run.url);
      try {
        const next = await this.deps.dispatcher.retry(this.mustGet(r.id), run);
        // A retry may be a new run whose id is not known yet: clear it so the run is correlated by name.
        this.ledger.setRun(r.id, next?.runId ?? null, next?.attempt ?? null);
      } catch (err) {
        const m = `the retry could not be started (${errorMessage(err)})`;
        if (this.ledger.transition(r.id, "dispatched", "failed", { note: m })) await this.report(this.mustGet(r.id), "failed", { message: m, willRetry: false }, run.url);
      }
      return;
    }
    if (this.ledger.transition(r.id, from, "failed", { runAttempt: run.attempt, note: message })) await this.report(this.mustGet(r.id), "failed", { message, willRetry: false }, run.url);
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
   * Start-up: every open request is brought up to date, so a restart loses nothing.
   * received/prechecked → advanced again; dispatched/running → its run is looked up and, when
   * completed, ingested; a dispatch that never produced a run is dispatched again.
   */
  async reconcile(): Promise<void> {
    for (const r of this.ledger.open()) {
      try {
        if (r.state === "received" || r.state === "prechecked") {
          await this.advance(r.id);
          continue;
        }
        const run = await this.deps.dispatcher.findRun(r);
        if (!run) {
          if (r.runId === null && this.now() - r.updatedAt > LOST_DISPATCH_MS) {
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
  }

  private findForRun(runId: number, requestId?: string | null): RequestRecord | null {
    return this.ledger.byRun(runId) ?? (requestId ? this.ledger.get(requestId) : null);
  }

  private async ensureTrackingIssue(r: RequestRecord): Promise<void> {
    if (r.trackingIssue !== null) return;
    const title = `ExPO: ${r.theta1}${r.theta0 ? ` ← ${r.theta0}` : ""} (${r.id})`;
    const body =
      `Tracking issue for ExPO request \`${r.id}\` (from ${r.source}).\n\n` +
      `- θ1 (aligned): \`${r.theta1}\` @ \`${r.theta1Sha}\`\n` +
      `- θ0 (SFT parent): ${r.theta0 ? `\`${r.theta0}\` @ \`${r.theta0Sha ?? "?"}\`` : "(none)"}\n` +
      `- α: ${r.alpha === null ? "searched" : r.alpha}\n\nThe bot comments here as the request moves on.`;
    const n = await this.deps.issues.createIssue(title, body, ["expo-tracking"]);
    this.ledger.setTrackingIssue(r.id, n);
  }

  /** Comments on the tracking issue and (per policy) θ1's Hub discussion; closes the issue at the end. */
  private async report(r: RequestRecord, kind: keyof CommentRenderer, failure?: CommentContext["failure"], runUrl?: string): Promise<void> {
    const ctx: CommentContext = { request: r, homeRepo: this.config.homeRepo, failure, runUrl };
    const body = this.renderer[kind](ctx);
    if (r.trackingIssue !== null) {
      try {
        await this.deps.issues.comment(r.trackingIssue, body);
      } catch (err) {
        this.log.error({ request: r.id, err: errorMessage(err) }, "tracking comment failed");
      }
    }
    const fromHub = r.source === "hub-webhook" || r.source === "hub-poll";
    const toHub = this.deps.discussions && (fromHub || (kind === "result" && this.config.hubCommentsForGitHubRequests));
    if (toHub) {
      try {
        await this.deps.discussions!.post(r.theta1, body);
      } catch (err) {
        this.log.warn({ request: r.id, err: errorMessage(err) }, "Hub discussion comment failed");
      }
    }
    const ownsIssue = r.source !== "github-comment";
    if (ownsIssue && r.trackingIssue !== null && TERMINAL_STATES.includes(r.state)) {
      try {
        await this.deps.issues.close(r.trackingIssue, r.state === "published" ? "completed" : "not_planned");
      } catch (err) {
        this.log.warn({ request: r.id, err: errorMessage(err) }, "closing the tracking issue failed");
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
