/**
 * The job's real steps over the project's modules: src/hub (download), src/expo (check,
 * extrapolate), src/search (the search's flags parsed by settings.ts and run by
 * runConfiguredSearch, as `expo-bot search` does) and src/publish.
 */
import { existsSync } from "node:fs";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkPair } from "../expo/verdict/check.js";
import { extrapolate } from "../expo/extrapolate.js";
import { createHubClient, getModelInfo, looksLikeRepoRef, parseRepoRef, snapshotDownload, type HubClientOptions, type RepoRef } from "../hub/index.js";
import { plotUrl, publishModel } from "../publish/publish.js";
import { readSearchReport } from "../publish/report.js";
import { runConfiguredSearch } from "../search/configured.js";
import { parseSearchFlags, type SearchSettings } from "../search/settings.js";
import { UserError } from "../util/errors.js";
import { writePinnedReport, type JobContext, type JobSteps, type SearchOutcome } from "./job.js";
import type { AlphaStatistics } from "./results.js";

export interface DefaultStepsOptions {
  hub: HubClientOptions;
  /** `expo-bot search` flags (generator, scorer, prompts…; src/search/settings.ts). */
  searchArgs?: string[];
  /** Owner of `<θ1 name>-ExPO` (default: the token's user). */
  namespace?: string;
  runUrl?: string;
  allowGated?: boolean;
  allowPrivate?: boolean;
  /** Test seam: the search (default: src/search/configured.ts). */
  runSearch?: typeof runConfiguredSearch;
}

/** The reward model the paper used to choose α (a MistralForSequenceClassification). */
export const PAPER_REWARD_MODEL = "weqweasdas/RM-Mistral-7B";

/**
 * The reward model the search needs on this runner: `--reward-model` as given when it is a
 * local folder, else a Hub id (`owner/name[@rev]`) to download in the download step; the
 * paper's reward model when the embedded scorer is used and none was named. Null with an
 * HTTP scorer.
 */
export function rewardModelToFetch(searchArgs: readonly string[] | SearchSettings): RepoRef | null {
  const settings = Array.isArray(searchArgs) ? parseSearchFlags([...searchArgs]) : (searchArgs as SearchSettings);
  if (settings.scorer.kind !== "embedded") return null;
  const given = settings.scorer.rewardModel;
  if (given === undefined) return parseRepoRef(PAPER_REWARD_MODEL);
  if (existsSync(given) || !looksLikeRepoRef(given)) return null;
  return parseRepoRef(given);
}

async function folderBytes(dir: string, names: string[]): Promise<number> {
  let total = 0;
  for (const n of names) total += await stat(join(dir, n)).then((s) => s.size, () => 0);
  return total;
}

const rewardDir = (ctx: JobContext) => join(ctx.out, "sources", "reward-model");

export function defaultSteps(o: DefaultStepsOptions): JobSteps {
  const client = createHubClient(o.hub);
  // Parsed up front: a bad flag fails the job before any download.
  const settings = parseSearchFlags(o.searchArgs ?? []);
  let plot: string | undefined;
  return {
    async download(ctx: JobContext) {
      let bytes = 0;
      for (const side of ["theta1", "theta0"] as const) {
        const { repo, sha } = ctx.request[side];
        const r = await snapshotDownload({ client, repo, revision: sha, dir: ctx.dirs[side], showProgress: process.stderr.isTTY });
        if (r.commit !== sha) throw new UserError(`${repo}: downloaded ${r.commit}, expected ${sha}`);
        bytes += r.bytesDownloaded;
      }
      const reward = rewardModelToFetch(settings);
      if (reward) {
        const r = await snapshotDownload({ client, repo: reward.repo, revision: reward.revision, dir: rewardDir(ctx), showProgress: process.stderr.isTTY });
        bytes += r.bytesDownloaded;
      }
      return { bytes };
    },

    async check(ctx) {
      // The hub settings reach a base θ1's card may name (the child-or-sibling check reads it).
      const v = await checkPair({ sft: ctx.dirs.theta0, aligned: ctx.dirs.theta1, sftId: ctx.request.theta0.repo, alignedId: ctx.request.theta1.repo, hub: o.hub });
      await writeFile(join(ctx.out, "check.json"), JSON.stringify(v, null, 2));
      return { verdict: v.verdict, reasons: v.reasons.filter((r) => r.level !== "info").map((r) => r.message) };
    },

    async search(ctx): Promise<SearchOutcome> {
      const dir = join(ctx.out, "search");
      const pinned = ctx.request.alpha;
      // A pinned α is still measured against α = 0 and reported, but not searched.
      const strategy = pinned !== null && pinned > 0 ? { kind: "grid" as const, alphas: [pinned] } : settings.strategy;
      const given = settings.scorer.kind === "embedded" ? settings.scorer.rewardModel : undefined;
      const rewardModel = settings.scorer.kind !== "embedded" ? undefined : { dir: rewardModelToFetch(settings) ? rewardDir(ctx) : given! };
      const run = o.runSearch ?? runConfiguredSearch;
      await run({
        settings: { ...settings, strategy, work: join(ctx.out, "work") },
        sft: ctx.dirs.theta0,
        aligned: ctx.dirs.theta1,
        rewardModel,
        out: dir,
        hubUrl: o.hub.hubUrl,
      });
      const report = await readSearchReport(join(dir, "search.json"));
      const summary = report.summary;
      const alphas: AlphaStatistics[] = summary.rows
        .filter((r) => r.alpha >= 0)
        .map((r) => ({
          alpha: r.alpha,
          reward: r.meanReward,
          delta: r.delta,
          ci: r.deltaCi ?? [0, 0],
          winRate: r.winRate ?? 0.5,
          meanLength: r.meanLength ?? 0,
          n: r.n ?? 0,
          truncated: r.truncated ?? null,
          dropped: r.dropped ?? false,
        }));
      plot = summary.plots.png ?? summary.plots.svg;
      const g = summary.reported;
      const s = summary.sanity;
      const extra = {
        reported: g
          ? { source: g.source, n: g.n, delta: g.delta, ci: g.deltaCi ?? null, winRate: g.winRate, lengthRatio: g.lengthRatio, lengthControlled: g.lengthControlled, lengthControlledCi: g.lengthControlledCi ?? null, lengthControlledSignificant: g.lengthControlledSignificant }
          : null,
        sanity: s ? { alpha: s.alpha, n: s.n, delta: s.delta, ci: s.deltaCi ?? null, passed: s.passed, note: s.note } : null,
        reason: summary.reason ?? null,
        notes: summary.notes ?? [],
      };
      // A pinned α is published only when it beats α = 0 by the same rule a searched α must
      // meet (the search's decision on its one-α grid), and a failed sanity check stops it too.
      if (pinned !== null && summary.chosenAlpha !== null) {
        const reportPath = join(dir, "pinned.json");
        await writePinnedReport(reportPath, report.raw);
        return { alphas, chosenAlpha: summary.chosenAlpha, reportPath, plot: plot ?? null, ...extra };
      }
      return { alphas, chosenAlpha: summary.chosenAlpha, reportPath: join(dir, "search.json"), plot: plot ?? null, ...extra };
    },

    async extrapolate(ctx, alpha) {
      const out = join(ctx.out, "model");
      // extrapolate() renames a finished folder into place: an existing config.json (adapter_config.json for a LoRA θ1) means done.
      if (!existsSync(join(out, "config.json")) && !existsSync(join(out, "adapter_config.json"))) {
        await extrapolate({
          sft: ctx.dirs.theta0,
          aligned: ctx.dirs.theta1,
          alpha,
          out,
          overwrite: true,
          sources: { sft: { repo: ctx.request.theta0.repo, revision: ctx.request.theta0.sha }, aligned: { repo: ctx.request.theta1.repo, revision: ctx.request.theta1.sha } },
        });
      }
      return { dir: out };
    },

    async publish(ctx, model) {
      const res = await publishModel({
        client,
        modelDir: model.dir,
        reportPath: model.reportPath,
        namespace: o.namespace,
        theta1: { id: ctx.request.theta1.repo, revision: ctx.request.theta1.sha },
        theta0: { id: ctx.request.theta0.repo, revision: ctx.request.theta0.sha },
        access: { allowGated: o.allowGated, allowPrivate: o.allowPrivate },
        runUrl: o.runUrl,
        log: ctx.log,
      });
      const commit = res.commit ?? (await getModelInfo({ client, repo: res.repo })).sha;
      const uploadedHere = (await readdir(model.dir)).filter((n) => res.uploaded.includes(n));
      const report = await readSearchReport(model.reportPath);
      const url = plotUrl(client.hubUrl, res.repo, report.summary, commit);
      return { repo: res.repo, commit, url: res.url, bytes: await folderBytes(model.dir, uploadedHere), plotUrl: url };
    },
  };
}
