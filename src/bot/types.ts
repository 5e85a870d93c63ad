/**
 * The bot's seams: every outside service the bot uses is one of these interfaces, injected
 * into `ExpoService` (and `createExpoApp`). Production wires the real modules (src/hub,
 * src/publish, src/expo, GitHub through Probot's octokit); tests wire small doubles.
 */
import type { ExpoResults } from "../job/results.js";

export type RequestState = "received" | "refused" | "prechecked" | "dispatched" | "running" | "published" | "no-gain" | "failed";

export const TERMINAL_STATES: readonly RequestState[] = ["refused", "published", "no-gain", "failed"];

export type RequestSource = "hub-webhook" | "hub-poll" | "github-issue" | "github-comment";

/** A request as it arrives, before the bot has looked anything up. */
export interface RequestCandidate {
  source: RequestSource;
  /** θ1, `owner/name`. */
  theta1: string;
  /** θ1 revision when the source pins one (the Hub webhook's `headSha`); else the main head. */
  theta1Revision?: string;
  /** θ0 when the requester names it; else read from θ1's card. */
  theta0?: string;
  /** α pinned by the requester; else the card's `expo-alpha:` tag; else searched. */
  alpha?: number;
  /** `github:LOGIN` or `hub:NAMESPACE`: whom quotas count against. */
  requester: string;
  /** GitHub issue that becomes the tracking issue (issue-form and `/expo` requests). */
  issueNumber?: number;
  /** Id of the delivery that carried it (GitHub `X-GitHub-Delivery`, Hub body hash). */
  deliveryId?: string;
}

export interface RequestRecord {
  id: string;
  key: string;
  theta1: string;
  theta1Sha: string;
  theta0: string | null;
  theta0Sha: string | null;
  alpha: number | null;
  source: RequestSource;
  requester: string;
  state: RequestState;
  reasons: string[];
  trackingIssue: number | null;
  runId: number | null;
  runAttempt: number | null;
  retries: number;
  result: ExpoResults | null;
  /** A re-run of this failed run was decided and may not have been started yet (see ExpoService.resumeRetry). */
  pendingRetry: RunRef | null;
  createdAt: number;
  updatedAt: number;
}

/** What the bot needs from the Hub (implemented over src/hub by `hubAdapter`). */
export interface BotHub {
  /**
   * Model info at a revision (default: main). Throws an error with `status` 401/403/404 when
   * the repo is missing, private or gated (permanent: the request is refused); any other
   * error is taken as transient (the request is retried later).
   */
  modelInfo(repo: string, revision?: string): Promise<HubModelInfo>;
  /** Every model carrying `tag`, newest first or in any order. */
  listModelsWithTag(tag: string): AsyncIterable<{ id: string; sha?: string }>;
  /** Parameter count from the safetensors headers at `revision`, or null when there are none. */
  parameterCount(repo: string, revision: string): Promise<number | null>;
  /** Is the repo at `revision` a PEFT adapter (adapter_config.json, no full weights)? Then θ0's size is the job's. */
  isAdapter?(repo: string, revision: string): Promise<boolean>;
}

export interface HubModelInfo {
  id: string;
  sha: string;
  /** The repo's tags (card tags included). */
  tags: string[];
  /** The model card's YAML metadata, or null. */
  cardData: Record<string, unknown> | null;
  private?: boolean;
  gated?: boolean | string;
}

/** Comments on θ1's Hub discussion (the publishing module's helper: one thread per repo, found again). */
export interface HubDiscussions {
  post(theta1: string, body: string): Promise<void>;
  /**
   * Whether θ1's bot thread already has a comment containing `marker` (the outbox's check
   * before re-sending a comment whose first send may have happened before a crash). Without
   * it, `post` itself must skip duplicates (the production helper does, by its hidden marker).
   */
  hasPosted?(theta1: string, marker: string): Promise<boolean>;
}

export interface PrecheckVerdict {
  verdict: "pass" | "warn" | "refuse";
  reasons: string[];
}

/** The pair verdict (src/expo `check`), on pinned revisions. */
export type Precheck = (pair: { theta1: string; theta1Sha: string; theta0: string; theta0Sha: string }) => Promise<PrecheckVerdict>;

export interface CommentContext {
  request: RequestRecord;
  /** The home repository, `owner/name`. */
  homeRepo: string;
  runUrl?: string;
  /**
   * Failed-run details without secrets. `step`: what failed when it was not the job (e.g.
   * "pre-check"); the job's own failures name their step in its results.
   */
  failure?: { message: string; willRetry: boolean; step?: string };
}

/** Renders the four comments (src/publish templates in production). Must escape user text. */
export interface CommentRenderer {
  received(ctx: CommentContext): string;
  refused(ctx: CommentContext): string;
  result(ctx: CommentContext): string;
  failed(ctx: CommentContext): string;
}

/** The tracking issues and comments in the home repository. */
export interface IssueTracker {
  createIssue(title: string, body: string, labels: string[]): Promise<number>;
  comment(issue: number, body: string): Promise<void>;
  close(issue: number, reason: "completed" | "not_planned"): Promise<void>;
  /** The tracking issue opened for `requestId` (its title ends with `(requestId)`), if any: a restart's check before opening another. */
  findIssue(requestId: string): Promise<number | null>;
  /** Whether `issue` has a comment containing `marker`: a restart's check before re-sending a comment. */
  hasComment(issue: number, marker: string): Promise<boolean>;
  /** Permission of a user on the home repository: admin, maintain, write, triage, read or none. */
  permission(login: string): Promise<string>;
}

export interface RunRef {
  runId: number;
  attempt: number;
}

export interface RunInfo extends RunRef {
  status: string;
  conclusion: string | null;
  url?: string;
}

export type FailureKind = "infrastructure" | "job";

/**
 * Where jobs run. `GitHubWorkflowDispatcher` dispatches `.github/workflows/expo-job.yml`;
 * `InProcessDispatcher` runs a job function in this process (tests, demos).
 * Completion comes back through `ExpoService.onRunCompleted` (the `workflow_run` event, or
 * the in-process dispatcher's own callback).
 */
export interface Dispatcher {
  /** Starts a job; returns the run when known at once (null: correlate later with `findRun`). */
  dispatch(request: RequestRecord): Promise<RunInfo | null>;
  /** Runs a failed run again (a new attempt of the same run, or a new run). */
  retry(request: RequestRecord, run: RunRef): Promise<RunInfo | null>;
  /** The run started for a request (by run id when known, else by run-name correlation). */
  findRun(request: RequestRecord): Promise<RunInfo | null>;
  /** The job's results.json text, or null when the run left none. */
  downloadResults(run: RunRef): Promise<string | null>;
  /** Whether a failed run failed because of the infrastructure (retry once) or the job. */
  classifyFailure(run: RunRef & { conclusion: string | null }): Promise<{ kind: FailureKind; detail: string }>;
}

export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug?(obj: unknown, msg?: string): void;
}
