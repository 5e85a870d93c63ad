/**
 * Production implementations of the bot's seams over the project's modules:
 * the Hub through src/hub (the only Hub access), the pair verdict from src/expo, comments
 * and the Hub discussion thread from src/publish.
 */
import { checkPair } from "../expo/verdict/check.js";
import type { Thresholds } from "../expo/verdict/thresholds.js";
import { getModelInfo, HubNotFoundError, listModelsByTag, readTextFile, safetensorsMetadata, type HubClient, type HubClientOptions } from "../hub/index.js";
import { renderFailedComment, renderReceivedComment, renderRefusedComment, renderResultComment, rowsFromAlphaStatistics } from "../publish/comments.js";
import { hasBotComment, postBotComment } from "../publish/discussion.js";
import type { ExpoResults } from "../job/results.js";
import type { BotHub, CommentContext, CommentRenderer, HubDiscussions, Precheck } from "./types.js";

export function hubAdapter(client: HubClient): BotHub {
  return {
    async modelInfo(repo, revision) {
      const info = await getModelInfo({ client, repo, revision });
      return { id: info.repo, sha: info.sha, tags: info.tags, cardData: info.cardData ?? null, private: info.private, gated: info.gated };
    },
    async *listModelsWithTag(tag) {
      const models = await listModelsByTag({ client, tags: [tag], sort: "lastModified", limit: 1000 });
      for (const m of models) if (!m.private) yield { id: m.repo, sha: m.sha };
    },
    async parameterCount(repo, revision) {
      try {
        const meta = await safetensorsMetadata({ client, repo, revision, computeParametersCount: true });
        if (typeof meta.parameterTotal === "number") return meta.parameterTotal;
        return Object.values(meta.parameterCount ?? {}).reduce((a: number, b) => a + (b ?? 0), 0);
      } catch (err) {
        if (err instanceof HubNotFoundError) return null;
        throw err;
      }
    },
    async isAdapter(repo, revision) {
      return (await readTextFile({ client, repo, revision, path: "adapter_config.json", maxBytes: 1_000_000 })) !== null;
    },
  };
}

/** The pair verdict on pinned revisions; `info` reasons are dropped, the rest become plain sentences. */
export function hubPrecheck(hub: HubClientOptions, thresholds?: Partial<Thresholds>): Precheck {
  return async (p) => {
    const v = await checkPair({ sft: `${p.theta0}@${p.theta0Sha}`, aligned: `${p.theta1}@${p.theta1Sha}`, hub, thresholds });
    return { verdict: v.verdict, reasons: v.reasons.filter((r) => r.level !== "info").map((r) => r.message) };
  };
}

/**
 * θ1's one bot thread on the Hub. Each comment is one outbox item of the ledger, posted once;
 * a replay after a crash checks for the item's own marker (`hasPosted`), so the helper's
 * per-kind deduplication is off (it would swallow a second "failed" comment after a re-run).
 */
export function hubDiscussions(client: HubClient, author?: string): HubDiscussions {
  return {
    async post(theta1, body) {
      const out = await postBotComment({ client, repo: theta1, comment: body, author, dedupe: false });
      // Permanent: the outbox logs it and does not try again.
      if (!out.posted && out.reason === "discussions-disabled") throw Object.assign(new Error(out.message), { permanent: true });
    },
    hasPosted: (theta1, marker) => hasBotComment({ client, repo: theta1, marker, author }),
  };
}

/** What results.json v2 adds to the result comment: the held-out gain, the sanity check, the runner's verdict, the decision's words. */
function resultExtras(r: ExpoResults) {
  const pair = (ci: [number, number] | null | undefined) => ci ?? undefined;
  return {
    reported: r.reported
      ? { ...r.reported, deltaCi: pair(r.reported.ci), lengthControlledCi: pair(r.reported.lengthControlledCi) }
      : undefined,
    sanity: r.sanity ? { ...r.sanity, deltaCi: pair(r.sanity.ci) } : undefined,
    verdict: r.verdict,
    reason: r.reason ?? undefined,
    notes: r.notes,
  };
}

/** The publishing module's templates (escaped, with hidden markers) as the bot's renderer. */
export function publishRenderer(options: { hubUrl?: string; githubUrl?: string } = {}): CommentRenderer {
  const gh = (options.githubUrl ?? "https://github.com").replace(/\/+$/, "");
  const base = (ctx: CommentContext) => ({ theta1: { id: ctx.request.theta1 }, requestId: ctx.request.id, hubUrl: options.hubUrl });
  const requestUrl = (ctx: CommentContext) => (ctx.request.trackingIssue !== null ? `${gh}/${ctx.homeRepo}/issues/${ctx.request.trackingIssue}` : undefined);
  return {
    received: (ctx) =>
      renderReceivedComment({
        ...base(ctx),
        theta0: ctx.request.theta0 ? { id: ctx.request.theta0 } : undefined,
        pinnedAlpha: ctx.request.alpha,
        queued: true,
        // After the pre-check, `reasons` holds its warnings (a pass with none is a plain pass).
        precheckWarnings: ctx.request.reasons,
        runUrl: ctx.runUrl,
        requestUrl: requestUrl(ctx),
        requestLabel: ctx.request.trackingIssue !== null ? `${ctx.homeRepo}#${ctx.request.trackingIssue}` : undefined,
      }),
    refused: (ctx) =>
      renderRefusedComment({
        ...base(ctx),
        theta0: ctx.request.theta0 ? { id: ctx.request.theta0 } : undefined,
        reasons: ctx.request.reasons.map((message) => ({ level: "refuse", message })),
      }),
    result: (ctx) => {
      const r = ctx.request.result;
      return renderResultComment({
        ...base(ctx),
        rows: r ? rowsFromAlphaStatistics(r.alphas) : [],
        chosenAlpha: r?.chosenAlpha ?? null,
        pinned: r ? r.pinnedAlpha !== null : false,
        model: r?.published ? { repo: r.published.repo, url: r.published.url, commit: r.published.commit } : undefined,
        plotUrl: r?.plot && /^https?:\/\//.test(r.plot) ? r.plot : undefined,
        runUrl: ctx.runUrl,
        ...(r ? resultExtras(r) : {}),
      });
    },
    failed: (ctx) =>
      renderFailedComment({
        ...base(ctx),
        step: ctx.failure?.step ?? ctx.request.result?.error?.step ?? "job",
        message: ctx.failure?.message ?? "the job failed",
        logsUrl: ctx.runUrl,
        retryable: ctx.failure?.willRetry ?? false,
      }),
  };
}
