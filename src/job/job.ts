/**
 * The runner job: one request, as ordered, resumable steps, ending in `OUT/results.json`.
 *
 *   download     θ1 and θ0 at their pinned commits (src/hub snapshot download: resumes files)
 *   check        the full pair verdict on the downloaded folders (src/expo); refuse stops here
 *   search       the α search (the `expo-bot search` command, same options), or a pinned α
 *   extrapolate  θ2 at the chosen α (src/expo, streaming), skipped when there is no gain
 *   publish      `<namespace>/<θ1 name>-ExPO` with its card (src/publish; idempotent)
 *
 * `OUT/job-state.json` records each finished step and what it produced; a rerun with the
 * same OUT (a re-run attempt on the same runner, or a resumed workspace) skips finished steps
 * and continues where it stopped. `results.json` is always written — with `outcome: failed`
 * and the failing step when something goes wrong — so the bot can report what happened.
 *
 * The steps are injectable (`JobSteps`) so the orchestration is tested without GPUs or a Hub.
 */
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { removeAbandonedTemporaries, writeFileAtomic } from "../util/atomic.js";
import { errorMessage, UserError } from "../util/errors.js";
import { scrubSecrets } from "../util/redact.js";
import { RESULTS_SCHEMA_V2, type AlphaStatistics, type ExpoResults, type SourceRevision } from "./results.js";

export interface JobRequest {
  requestId: string;
  theta1: SourceRevision;
  theta0: SourceRevision;
  alpha: number | null;
}

export type StepName = "download" | "check" | "search" | "extrapolate" | "publish";
export const STEP_ORDER: readonly StepName[] = ["download", "check", "search", "extrapolate", "publish"];

export interface SearchOutcome {
  /** Per-α statistics (α ≥ 0), α = 0 included. */
  alphas: AlphaStatistics[];
  chosenAlpha: number | null;
  /** The report the publisher reads (search.json, or the pinned report). */
  reportPath: string;
  /** Plot file next to the report, if any. */
  plot: string | null;
  /** What results.json v2 carries for the comment: the published gain, the sanity check, the decision's words, notes. */
  reported?: ExpoResults["reported"];
  sanity?: ExpoResults["sanity"];
  reason?: string | null;
  notes?: string[];
}

export interface JobContext {
  request: JobRequest;
  out: string;
  /** Folders of the downloaded models. */
  dirs: { theta1: string; theta0: string };
  log: (line: string) => void;
}

/** The work of each step. `defaultSteps` (steps.ts) wires the project's modules. */
export interface JobSteps {
  download(ctx: JobContext): Promise<{ bytes: number }>;
  check(ctx: JobContext): Promise<{ verdict: "pass" | "warn" | "refuse"; reasons: string[] }>;
  search(ctx: JobContext): Promise<SearchOutcome>;
  extrapolate(ctx: JobContext, alpha: number): Promise<{ dir: string }>;
  publish(ctx: JobContext, model: { dir: string; reportPath: string }): Promise<{ repo: string; commit: string; url: string; bytes: number; plotUrl?: string }>;
}

interface StepRecord {
  seconds: number;
  data: unknown;
}

interface JobState {
  requestId: string;
  steps: Partial<Record<StepName, StepRecord>>;
}

export class StepFailure extends Error {
  constructor(
    readonly step: StepName | "job",
    message: string,
  ) {
    super(message);
    this.name = "StepFailure";
  }
}

export function parseJobRequest(text: string, source = "request.json"): JobRequest {
  let v: any;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${source}: not valid JSON (${errorMessage(err)})`);
  }
  const sha = /^[0-9a-f]{40}$/;
  const repo = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
  const side = (s: any, name: string): SourceRevision => {
    if (!s || typeof s.repo !== "string" || !repo.test(s.repo)) throw new UserError(`${source}: ${name}.repo must be OWNER/NAME`);
    if (typeof s.sha !== "string" || !sha.test(s.sha)) throw new UserError(`${source}: ${name}.sha must be a 40-hex commit sha`);
    return { repo: s.repo, sha: s.sha };
  };
  if (!v || typeof v.requestId !== "string" || !/^[\w.-]{1,80}$/.test(v.requestId)) throw new UserError(`${source}: requestId must be a short id`);
  const alpha = v.alpha === null || v.alpha === undefined || v.alpha === "" ? null : Number(v.alpha);
  if (alpha !== null && !(Number.isFinite(alpha) && alpha >= 0)) throw new UserError(`${source}: alpha must be null or a number ≥ 0`);
  return { requestId: v.requestId, theta1: side(v.theta1, "theta1"), theta0: side(v.theta0, "theta0"), alpha };
}

async function readState(path: string, requestId: string): Promise<JobState> {
  if (!existsSync(path)) return { requestId, steps: {} };
  const state = JSON.parse(await readFile(path, "utf8")) as JobState;
  if (state.requestId !== requestId) throw new UserError(`${path} belongs to request ${state.requestId}, not ${requestId}: use an empty --out`);
  return state;
}

export interface RunJobOptions {
  request: JobRequest;
  out: string;
  steps: JobSteps;
  log?: (line: string) => void;
}

async function removeAlphaFolders(work: string): Promise<void> {
  const names = await readdir(work).catch(() => [] as string[]);
  for (const n of names) if (/^alpha-/.test(n)) await rm(join(work, n), { recursive: true, force: true });
}

/** Runs (or resumes) the job; always writes OUT/results.json and returns what it wrote. */
export async function runJob(options: RunJobOptions): Promise<ExpoResults> {
  const out = resolve(options.out);
  const { request, steps } = options;
  // Every line the job logs (its stderr on the runner, public in the run's logs) is scrubbed.
  const rawLog = options.log ?? (() => {});
  const log = (line: string) => rawLog(scrubSecrets(line));
  const statePath = join(out, "job-state.json");
  // A job killed mid-step (a lost runner, kill -9) left its half-built folders behind: up to
  // θ2's full size each. Resuming removes them first.
  for (const path of await removeAbandonedTemporaries(out)) log(`removed ${path} (left by an interrupted run)`);
  const state = await readState(statePath, request.requestId);
  const ctx: JobContext = { request, out, dirs: { theta1: join(out, "sources", "theta1"), theta0: join(out, "sources", "theta0") }, log };

  const step = async <T>(name: StepName, fn: () => Promise<T>): Promise<T> => {
    const done = state.steps[name];
    if (done) {
      log(`${name}: done in an earlier attempt, skipped`);
      return done.data as T;
    }
    log(`${name}: start`);
    const started = performance.now();
    let data: T;
    try {
      data = await fn();
    } catch (err) {
      if (err instanceof StepFailure) throw err;
      throw new StepFailure(name, errorMessage(err));
    }
    state.steps[name] = { seconds: (performance.now() - started) / 1000, data };
    await writeFileAtomic(statePath, JSON.stringify(state, null, 2));
    log(`${name}: done`);
    return data;
  };

  const results: ExpoResults = {
    schema: RESULTS_SCHEMA_V2,
    requestId: request.requestId,
    theta1: request.theta1,
    theta0: request.theta0,
    pinnedAlpha: request.alpha,
    verdict: { verdict: "pass", reasons: [] },
    alphas: [],
    chosenAlpha: null,
    outcome: "failed",
    published: null,
    plot: null,
    timings: {},
    bytes: { downloaded: 0, uploaded: 0 },
    error: null,
    reported: null,
    sanity: null,
    reason: null,
    notes: [],
  };
  try {
    const dl = await step("download", () => steps.download(ctx));
    results.bytes.downloaded = dl.bytes;
    const verdict = await step("check", () => steps.check(ctx));
    results.verdict = verdict;
    if (verdict.verdict === "refuse") throw new StepFailure("check", `the full check refused the pair: ${verdict.reasons.join("; ")}`);
    const search = await step("search", () => steps.search(ctx));
    // The α folders serve only the search; once it is recorded they are dead weight (a search
    // interrupted and resumed from its cache never releases the ones it had built).
    await removeAlphaFolders(join(out, "work"));
    results.alphas = search.alphas;
    results.chosenAlpha = search.chosenAlpha;
    results.plot = search.plot;
    results.reported = search.reported ?? null;
    results.sanity = search.sanity ?? null;
    results.reason = search.reason ?? null;
    results.notes = search.notes ?? [];
    if (search.chosenAlpha === null) {
      results.outcome = "no-gain";
    } else {
      const alpha = search.chosenAlpha;
      const model = await step("extrapolate", () => steps.extrapolate(ctx, alpha));
      const pub = await step("publish", () => steps.publish(ctx, { dir: model.dir, reportPath: search.reportPath }));
      results.published = { repo: pub.repo, commit: pub.commit, url: pub.url };
      results.bytes.uploaded = pub.bytes;
      if (pub.plotUrl) results.plot = pub.plotUrl;
      results.outcome = "published";
    }
  } catch (err) {
    const f = err instanceof StepFailure ? err : new StepFailure("job", errorMessage(err));
    results.outcome = "failed";
    results.published = null;
    results.error = { step: f.step, message: scrubSecrets(f.message) };
    log(`${f.step}: failed: ${f.message}`);
  }
  for (const [name, rec] of Object.entries(state.steps)) results.timings[name] = Number(rec!.seconds.toFixed(3));
  await writeFileAtomic(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");
  return results;
}

/**
 * Writes the report the publisher reads when α was pinned: the search's own search.json (a
 * grid of that one α, judged by the same rule as a searched α) marked `pinned: true`, so the
 * card says no search chose it.
 */
export async function writePinnedReport(path: string, searchReport: unknown): Promise<void> {
  await writeFile(path, JSON.stringify({ ...(searchReport as Record<string, unknown>), pinned: true }, null, 2));
}
