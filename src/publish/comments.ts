/**
 * The bot's comments (Hub discussion of θ1 and the GitHub tracking issue share the Markdown):
 * received → result | refused | failed. Each starts with a hidden marker
 * `<!-- expo-bot:<kind>[:<request id>] -->` so the bot can recognise its own comments.
 */
import { scrubSecrets } from "../util/redact.js";
import { formatAlpha, renderTemplate } from "./templates.js";
import { isRepoId } from "./naming.js";
import { reportedGainView, rowExtras, sanityView } from "./gain-view.js";
import type { AlphaRow, ReportedGainView, SanityView } from "./types.js";

export interface CommentModel {
  /** `owner/name` on the Hub (any string: it is escaped). */
  id: string;
}

export interface CommentBase {
  theta1: CommentModel;
  /** Request id, for the hidden marker (only `[A-Za-z0-9._:-]` is kept). */
  requestId?: string;
  /** Hub base URL (default https://huggingface.co). */
  hubUrl?: string;
}

export type CommentKind = "received" | "refused" | "result" | "failed";

/** The hidden first line of every comment. */
export function commentMarker(kind: CommentKind, requestId?: string): string {
  const id = (requestId ?? "").replace(/[^A-Za-z0-9._:-]/g, "").slice(0, 80);
  return `<!-- expo-bot:${kind}${id ? `:${id}` : ""} -->`;
}

/** Finds the kind and request id of a comment written by `render*Comment` (null otherwise). */
export function parseCommentMarker(body: string): { kind: CommentKind; requestId?: string } | null {
  const m = /^<!-- expo-bot:(received|refused|result|failed)(?::([A-Za-z0-9._:-]+))? -->/.exec(body);
  if (!m) return null;
  return m[2] ? { kind: m[1] as CommentKind, requestId: m[2] } : { kind: m[1] as CommentKind };
}

function hub(base?: string): string {
  return (base ?? "https://huggingface.co").replace(/\/+$/, "");
}

function modelView(model: CommentModel | undefined, hubUrl?: string) {
  if (!model) return null;
  return { id: model.id, url: isRepoId(model.id) ? `${hub(hubUrl)}/${model.id}` : null };
}

// ── received ───────────────────────────────────────────────────────────────

export interface ReceivedComment extends CommentBase {
  theta0?: CommentModel;
  pinnedAlpha?: number | null;
  /** True once the pre-check passed and a job was dispatched. */
  queued?: boolean;
  /** The pre-check's warnings (empty or absent: it passed without any); the comment says so instead of "passed". */
  precheckWarnings?: string[];
  runUrl?: string;
  /** Where the request came from (e.g. the GitHub issue), with a label. */
  requestUrl?: string;
  requestLabel?: string;
}

export function renderReceivedComment(input: ReceivedComment): string {
  return renderTemplate("comment-received", {
    markerMd: commentMarker("received", input.requestId),
    theta1: modelView(input.theta1, input.hubUrl),
    theta0: modelView(input.theta0, input.hubUrl),
    pinnedAlpha: typeof input.pinnedAlpha === "number" ? input.pinnedAlpha : null,
    queued: input.queued ?? false,
    precheckWarnings: input.precheckWarnings ?? [],
    runUrl: input.runUrl ?? null,
    requestUrl: input.requestUrl ?? null,
    requestLabel: input.requestLabel ?? input.requestUrl ?? null,
  });
}

// ── refused ────────────────────────────────────────────────────────────────

export interface RefusalReason {
  /** e.g. "error", "refuse", "warning". */
  level: string;
  message: string;
}

export interface RefusedComment extends CommentBase {
  theta0?: CommentModel;
  reasons: RefusalReason[];
  /** Which gate refused: the pre-check (lineage/compatibility, default) or publishing (licence/access). */
  stage?: "check" | "publish";
  /** Replaces the default closing advice (escaped). */
  hint?: string;
}

export function renderRefusedComment(input: RefusedComment): string {
  return renderTemplate("comment-refused", {
    markerMd: commentMarker("refused", input.requestId),
    theta1: modelView(input.theta1, input.hubUrl),
    theta0: modelView(input.theta0, input.hubUrl),
    reasons: input.reasons.length > 0 ? input.reasons : [{ level: "error", message: "refused without a reason (this is a bug)" }],
    hint: input.hint ?? null,
    publishStage: input.stage === "publish",
  });
}

// ── result ─────────────────────────────────────────────────────────────────

export interface ResultComment extends CommentBase {
  rows: AlphaRow[];
  chosenAlpha: number | null;
  pinned?: boolean;
  /** The published model; absent when nothing was published ("no gain"). */
  model?: { repo: string; url?: string; commit?: string };
  /** Absolute URL of the plot (e.g. the PNG in the published repo). */
  plotUrl?: string;
  runUrl?: string;
  /** Confidence level of the intervals (default 0.95). */
  confidence?: number;
  /** The chosen α's gain measured apart from the choice (held-out prompts), when the job had it. */
  reported?: ReportedGainView;
  sanity?: SanityView;
  /** The job's own check of the pair: its real verdict and the warnings it gave. */
  verdict?: { verdict: "pass" | "warn" | "refuse"; reasons: string[] };
  /** The search's words on its decision (shown when nothing was published). */
  reason?: string;
  notes?: string[];
}

/** The `alphas` of results.json (src/job) as comment rows. */
export function rowsFromAlphaStatistics(
  alphas: Array<{ alpha: number; reward: number; delta: number; ci: [number, number]; winRate: number; meanLength: number; n: number; truncated?: number | null; dropped?: boolean }>,
): AlphaRow[] {
  return alphas.map((a) => {
    const row: AlphaRow = { alpha: a.alpha, meanReward: a.reward, delta: a.delta, winRate: a.winRate, meanLength: a.meanLength, n: a.n };
    if (a.alpha !== 0) row.deltaCi = a.ci;
    if (typeof a.truncated === "number") row.truncated = a.truncated;
    if (a.dropped) row.dropped = true;
    return row;
  });
}

export function renderResultComment(input: ResultComment): string {
  const base = hub(input.hubUrl);
  const rows = [...input.rows]
    .sort((a, b) => a.alpha - b.alpha)
    .map((r) => ({
      ...r,
      isBaseline: r.alpha === 0,
      isChosen: input.chosenAlpha !== null && r.alpha === input.chosenAlpha,
      hasDeltaCi: r.deltaCi !== undefined,
      deltaLow: r.deltaCi?.[0] ?? null,
      deltaHigh: r.deltaCi?.[1] ?? null,
      ...rowExtras(r),
    }));
  const chosen = rows.find((r) => r.isChosen);
  const published = Boolean(input.model);
  const model = input.model
    ? {
        repo: input.model.repo,
        url: input.model.url ?? `${base}/${input.model.repo}`,
        commitUrl: input.model.commit ? `${base}/${input.model.repo}/commit/${encodeURIComponent(input.model.commit)}` : null,
      }
    : null;
  return renderTemplate("comment-result", {
    markerMd: commentMarker("result", input.requestId),
    theta1: modelView(input.theta1, input.hubUrl),
    published,
    model,
    chosenAlpha: input.chosenAlpha,
    chosenAlphaText: formatAlpha(input.chosenAlpha),
    pinned: input.pinned ?? false,
    chosenDelta: chosen?.delta ?? null,
    chosenHasCi: chosen?.hasDeltaCi ?? false,
    chosenLow: chosen?.deltaLow ?? null,
    chosenHigh: chosen?.deltaHigh ?? null,
    confidencePct: Math.round((input.confidence ?? 0.95) * 100),
    rows,
    anyTruncated: rows.some((r) => r.hasTruncated),
    anyDropped: rows.some((r) => r.dropped),
    reported: reportedGainView(input.reported),
    sanity: sanityView(input.sanity),
    verdict: input.verdict ? { ...input.verdict, warned: input.verdict.verdict !== "pass", reasons: input.verdict.reasons } : null,
    reason: input.reason ?? null,
    notes: input.notes ?? [],
    plotUrl: input.plotUrl ?? null,
    runUrl: input.runUrl ?? null,
  });
}

// ── failed ─────────────────────────────────────────────────────────────────

export interface FailedComment extends CommentBase {
  /** The step that failed (e.g. "download", "extrapolate", "search", "publish"). */
  step: string;
  /** What failed. Rendered in a code block, with anything that looks like a token redacted. */
  message: string;
  logsUrl?: string;
  logsLabel?: string;
  retryable?: boolean;
}

/** Longest error text kept in a comment (the logs have the rest). */
export const MAX_ERROR_CHARS = 2000;

export function renderFailedComment(input: FailedComment): string {
  // Scrubbed before it is cut: a token cut short is too short for the token shapes to catch.
  const scrubbed = scrubSecrets(input.message);
  const message = scrubbed.length > MAX_ERROR_CHARS ? `${scrubbed.slice(0, MAX_ERROR_CHARS)}\n… (truncated; see the logs)` : scrubbed;
  return renderTemplate("comment-failed", {
    markerMd: commentMarker("failed", input.requestId),
    theta1: modelView(input.theta1, input.hubUrl),
    step: input.step,
    message,
    logsUrl: input.logsUrl ?? null,
    logsLabel: input.logsLabel ?? "job logs",
    retryable: input.retryable ?? false,
  });
}
