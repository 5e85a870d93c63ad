/**
 * The job's real steps over the project's modules: src/hub (download), src/expo (check,
 * extrapolate), the `expo-bot search` command (same options as on the command line) and
 * src/publish.
 */
import { existsSync } from "node:fs";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkPair } from "../expo/verdict/check.js";
import { extrapolate } from "../expo/extrapolate.js";
import { createHubClient, getModelInfo, looksLikeRepoRef, parseRepoRef, snapshotDownload, type HubClientOptions, type RepoRef } from "../hub/index.js";
import { plotUrl, publishModel } from "../publish/publish.js";
import { readSearchReport } from "../publish/report.js";
import { UserError } from "../util/errors.js";
import { writePinnedReport, type JobContext, type JobSteps, type SearchOutcome } from "./job.js";
import type { AlphaStatistics } from "./results.js";

export interface DefaultStepsOptions {
  hub: HubClientOptions;
  /** Options passed to `expo-bot search` (generator, scorer, prompts…). */
  searchArgs?: string[];
  /** Owner of `<θ1 name>-ExPO` (default: the token's user). */
  namespace?: string;
  runUrl?: string;
  allowGated?: boolean;
  allowPrivate?: boolean;
  /** Test seam: the search command (default: src/cli/search.ts `run`). */
  runSearch?: (argv: string[]) => Promise<number>;
}

/** The reward model the paper used to choose α (a MistralForSequenceClassification). */
export const PAPER_REWARD_MODEL = "weqweasdas/RM-Mistral-7B";

/**
 * The reward model the search needs on this runner: `--reward-model` as given when it is a
 * local folder, else a Hub id (`owner/name[@rev]`) to download in the download step; the
 * paper's reward model when the embedded scorer is used and none was named. Null with an
 * HTTP scorer.
 */
export function rewardModelToFetch(searchArgs: readonly string[]): RepoRef | null {
  const value = (flag: string) => {
    const i = searchArgs.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    return searchArgs[i].includes("=") ? searchArgs[i].slice(flag.length + 1) : searchArgs[i + 1];
  };
  if ((value("--scorer") ?? "embedded") !== "embedded") return null;
  const given = value("--reward-model");
  if (given === undefined) return parseRepoRef(PAPER_REWARD_MODEL);
  if (existsSync(given) || !looksLikeRepoRef(given)) return null;
  return parseRepoRef(given);
}

/** searchArgs with `--reward-model` pointing at `dir` (replacing a Hub id, or added). */
export function withRewardModelDir(searchArgs: readonly string[], dir: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < searchArgs.length; i++) {
    if (searchArgs[i] === "--reward-model") i++;
    else if (!searchArgs[i].startsWith("--reward-model=")) out.push(searchArgs[i]);
  }
  return [...out, "--reward-model", dir];
}

async function folderBytes(dir: string, names: string[]): Promise<number> {
  let total = 0;
  for (const n of names) total += await stat(join(dir, n)).then((s) => s.size, () => 0);
  return total;
}

const rewardDir = (ctx: JobContext) => join(ctx.out, "sources", "reward-model");

export function defaultSteps(o: DefaultStepsOptions): JobSteps {
  const client = createHubClient(o.hub);
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
      const reward = rewardModelToFetch(o.searchArgs ?? []);
      if (reward) {
        const r = await snapshotDownload({ client, repo: reward.repo, revision: reward.revision, dir: rewardDir(ctx), showProgress: process.stderr.isTTY });
        bytes += r.bytesDownloaded;
      }
      return { bytes };
    },

    async check(ctx) {
      const v = await checkPair({ sft: ctx.dirs.theta0, aligned: ctx.dirs.theta1, sftId: ctx.request.theta0.repo, alignedId: ctx.request.theta1.repo });
      await writeFile(join(ctx.out, "check.json"), JSON.stringify(v, null, 2));
      return { verdict: v.verdict, reasons: v.reasons.filter((r) => r.level !== "info").map((r) => r.message) };
    },

    async search(ctx): Promise<SearchOutcome> {
      const dir = join(ctx.out, "search");
      const pinned = ctx.request.alpha;
      const searchArgs = rewardModelToFetch(o.searchArgs ?? []) ? withRewardModelDir(o.searchArgs ?? [], rewardDir(ctx)) : (o.searchArgs ?? []);
      const argv = [...searchArgs, "--sft", ctx.dirs.theta0, "--aligned", ctx.dirs.theta1, "--work", join(ctx.out, "work"), "--out", dir, "--quiet"];
      // A pinned α is still measured against α = 0 and reported, but not searched.
      if (pinned !== null && pinned > 0) argv.push("--strategy", "grid", "--alphas", String(pinned));
      const run = o.runSearch ?? (await import("../cli/search.js")).run;
      const code = await run(argv);
      if (code !== 0) throw new UserError(`the α search exited with code ${code}`);
      const report = await readSearchReport(join(dir, "search.json"));
      const alphas: AlphaStatistics[] = report.summary.rows
        .filter((r) => r.alpha >= 0)
        .map((r) => ({ alpha: r.alpha, reward: r.meanReward, delta: r.delta, ci: r.deltaCi ?? [0, 0], winRate: r.winRate ?? 0.5, meanLength: r.meanLength ?? 0, n: r.n ?? 0 }));
      plot = report.summary.plots.png ?? report.summary.plots.svg;
      if (pinned !== null) {
        const reportPath = join(dir, "pinned.json");
        await writePinnedReport(reportPath, pinned, alphas, { plots: report.summary.plots, rewardModel: report.summary.rewardModel, prompts: report.summary.prompts });
        return { alphas, chosenAlpha: pinned, reportPath, plot: plot ?? null };
      }
      return { alphas, chosenAlpha: report.summary.chosenAlpha, reportPath: join(dir, "search.json"), plot: plot ?? null };
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
