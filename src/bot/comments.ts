/**
 * A plain fallback `CommentRenderer`, used until (and wherever) the publishing module's
 * Handlebars templates are not wired. Every user-controlled string goes through `md`.
 */
import { scrubSecrets } from "../util/redact.js";
import type { CommentContext, CommentRenderer } from "./types.js";

/** Escapes text for GitHub/Hub Markdown and HTML: no links, mentions, tags or tables sneak in. */
export function md(text: string): string {
  return scrubSecrets(text)
    .replace(/[\\`*_{}[\]()#+!|<>~&]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/@/g, "@\u200b")
    .replace(/\r?\n/g, " ");
}

function pair(ctx: CommentContext): string {
  const r = ctx.request;
  const t1 = `\`${md(r.theta1)}\`@${r.theta1Sha.slice(0, 10)}`;
  const t0 = r.theta0 ? `\`${md(r.theta0)}\`${r.theta0Sha ? "@" + r.theta0Sha.slice(0, 10) : ""}` : "(no parent)";
  return `θ1 ${t1}, θ0 ${t0}`;
}

function footer(ctx: CommentContext): string {
  return `\n\n<sub>ExPO Bot · request \`${ctx.request.id}\` · ${md(ctx.homeRepo)}</sub>`;
}

export const plainRenderer: CommentRenderer = {
  received(ctx) {
    const a = ctx.request.alpha === null ? "α will be chosen by a reward-model search" : `α pinned to ${ctx.request.alpha}`;
    return `**ExPO request received.** ${pair(ctx)}; ${a}. I will check the pair and, if it passes, run the job on a GPU runner.${footer(ctx)}`;
  },
  refused(ctx) {
    const reasons = ctx.request.reasons.map((r) => `- ${md(r)}`).join("\n");
    return `**ExPO request refused.** ${pair(ctx)}.\n\n${reasons}${footer(ctx)}`;
  },
  result(ctx) {
    const res = ctx.request.result;
    if (!res) return `**ExPO finished.**${footer(ctx)}`;
    const rows = res.alphas
      .map((a) => `| ${a.alpha} | ${a.reward.toFixed(3)} | ${a.delta >= 0 ? "+" : ""}${a.delta.toFixed(3)} [${a.ci[0].toFixed(3)}, ${a.ci[1].toFixed(3)}] | ${(a.winRate * 100).toFixed(0)} % | ${a.meanLength.toFixed(0)} |`)
      .join("\n");
    const table = rows ? `\n\n| α | reward | Δ vs α=0 (CI) | win rate | length |\n|---|---|---|---|---|\n${rows}` : "";
    const head =
      res.outcome === "published" && res.published
        ? `**ExPO result: published [${md(res.published.repo)}](${res.published.url})** with α = ${res.chosenAlpha}.`
        : `**ExPO result: no gain.** No α beat the original with confidence, so nothing was published.`;
    const run = ctx.runUrl ? `\n\n[Run logs](${ctx.runUrl})` : "";
    return `${head} ${pair(ctx)}.${table}${run}${footer(ctx)}`;
  },
  failed(ctx) {
    const f = ctx.failure;
    const msg = f ? md(f.message) : "the job failed";
    const retry = f?.willRetry ? " The failure looks like the infrastructure's, so I am retrying once." : "";
    const run = ctx.runUrl ? ` [Run logs](${ctx.runUrl}).` : "";
    return `**ExPO ${md(f?.step ?? "job")} failed.** ${pair(ctx)}: ${msg}.${retry}${run}${footer(ctx)}`;
  },
};
