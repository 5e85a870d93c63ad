/**
 * Dispatchers: where a request's job runs.
 *
 * `GitHubWorkflowDispatcher` — `workflow_dispatch` of `.github/workflows/expo-job.yml` in the
 * home repository with the request as inputs. It asks for the run id in the answer
 * (`return_run_details: true`, GitHub's Feb 2026 addition); where the API does not know the
 * parameter (older GHES) it dispatches without it and finds the run by its `run-name`, which
 * contains the request id. Results come back as the run's `results` artifact.
 *
 * `InProcessDispatcher` — runs a job function in this process and reports completion through a
 * callback, for tests and the demo: the bot's code path is the same from dispatch to comments.
 */
import { errorMessage } from "../util/errors.js";
import { requestIdInTitle } from "./request.js";
import type { Dispatcher, FailureKind, RequestRecord, RunInfo, RunRef } from "./types.js";
import { readZipEntry } from "./zip.js";

/** The workflow's inputs (all strings: workflow_dispatch inputs are). */
export function workflowInputs(r: RequestRecord): Record<string, string> {
  return {
    request_id: r.id,
    theta1: r.theta1,
    theta1_sha: r.theta1Sha,
    theta0: r.theta0 ?? "",
    theta0_sha: r.theta0Sha ?? "",
    alpha: r.alpha === null ? "" : String(r.alpha),
  };
}

/** The request file the job reads (`expo-bot job --request request.json`). */
export function requestFileOf(r: RequestRecord): Record<string, unknown> {
  return { requestId: r.id, theta1: { repo: r.theta1, sha: r.theta1Sha }, theta0: { repo: r.theta0, sha: r.theta0Sha }, alpha: r.alpha };
}

/** The subset of Octokit the dispatcher uses (`octokit.request`), so any Octokit fits. */
export interface OctokitLike {
  request(route: string, params?: Record<string, unknown>): Promise<{ status: number; data: any; headers?: Record<string, unknown> }>;
}

/** Steps whose failure is the runner's or the network's, not the job's. */
const SETUP_STEP_RE = /^(set up job|set up runner|checkout|actions\/checkout|setup node|set up node|install dependencies|npm ci|complete runner|post )/i;

/**
 * Decides, from the jobs of one attempt, whether a failure was the infrastructure's:
 * - the run never started (`startup_failure`) or went `stale`;
 * - a job was cancelled or failed with no step that failed (runner lost, cancelled by the
 *   system or by a timeout before any step reported);
 * - the first failed step is a setup step (runner set-up, checkout, install).
 * Anything else — the ExPO step itself failed — is the job's and is not retried.
 */
export function classifyJobs(
  conclusion: string | null,
  jobs: Array<{ name?: string; conclusion: string | null; steps?: Array<{ name: string; conclusion: string | null; status?: string }> }>,
): { kind: FailureKind; detail: string } {
  if (conclusion === "startup_failure" || conclusion === "stale") return { kind: "infrastructure", detail: `the run ended as ${conclusion}` };
  const bad = jobs.filter((j) => j.conclusion !== "success" && j.conclusion !== "skipped");
  if (bad.length === 0) return { kind: conclusion === "cancelled" ? "infrastructure" : "job", detail: `the run ended as ${conclusion ?? "unknown"}` };
  for (const j of bad) {
    const steps = j.steps ?? [];
    const failed = steps.find((s) => s.conclusion === "failure");
    if (!failed) return { kind: "infrastructure", detail: `job ${j.name ?? ""} ended as ${j.conclusion ?? "unknown"} with no failed step (runner lost or cancelled)`.replace("  ", " ") };
    if (SETUP_STEP_RE.test(failed.name)) return { kind: "infrastructure", detail: `step "${failed.name}" failed` };
  }
  const first = bad[0].steps?.find((s) => s.conclusion === "failure");
  return { kind: "job", detail: first ? `step "${first.name}" failed` : `the run ended as ${conclusion ?? "unknown"}` };
}

export interface GitHubDispatcherOptions {
  /** An installation-authenticated Octokit for the home repository. */
  octokit: () => Promise<OctokitLike>;
  homeRepo: string;
  workflowFile: string;
  ref: string;
}

export class GitHubWorkflowDispatcher implements Dispatcher {
  private readonly owner: string;
  private readonly repo: string;

  constructor(private readonly options: GitHubDispatcherOptions) {
    [this.owner, this.repo] = options.homeRepo.split("/");
  }

  async dispatch(request: RequestRecord): Promise<RunInfo | null> {
    const gh = await this.options.octokit();
    const route = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
    const params = { owner: this.owner, repo: this.repo, workflow_id: this.options.workflowFile, ref: this.options.ref, inputs: workflowInputs(request) };
    let res;
    try {
      res = await gh.request(route, { ...params, return_run_details: true });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if ((status === 400 || status === 422) && /return_run_details/i.test(errorMessage(err))) res = await gh.request(route, params);
      else throw err;
    }
    const id = res.status === 200 && res.data ? Number(res.data.workflow_run_id) : NaN;
    if (Number.isFinite(id) && id > 0) return { runId: id, attempt: 1, status: "queued", conclusion: null, url: res.data.html_url };
    return await this.findRun(request);
  }

  /** Re-runs the failed jobs of the run (same run id, next attempt); where GitHub cannot (e.g. a run that never started), dispatches anew. */
  async retry(request: RequestRecord, run: RunRef): Promise<RunInfo | null> {
    const gh = await this.options.octokit();
    try {
      await gh.request("POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs", { owner: this.owner, repo: this.repo, run_id: run.runId });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 403 || status === 422) return this.dispatch(request);
      throw err;
    }
    return { runId: run.runId, attempt: run.attempt + 1, status: "queued", conclusion: null };
  }

  async findRun(request: RequestRecord): Promise<RunInfo | null> {
    const gh = await this.options.octokit();
    if (request.runId) {
      const { data } = await gh.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}", { owner: this.owner, repo: this.repo, run_id: request.runId });
      return { runId: data.id, attempt: data.run_attempt ?? 1, status: data.status, conclusion: data.conclusion ?? null, url: data.html_url };
    }
    const { data } = await gh.request("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", {
      owner: this.owner,
      repo: this.repo,
      workflow_id: this.options.workflowFile,
      event: "workflow_dispatch",
      per_page: 100,
    });
    const runs = (data.workflow_runs ?? []) as Array<{ id: number; run_attempt?: number; status: string; conclusion: string | null; html_url?: string; display_title?: string; name?: string }>;
    const match = runs.find((r) => requestIdInTitle(r.display_title ?? r.name) === request.id);
    return match ? { runId: match.id, attempt: match.run_attempt ?? 1, status: match.status, conclusion: match.conclusion ?? null, url: match.html_url } : null;
  }

  async downloadResults(run: RunRef): Promise<string | null> {
    const gh = await this.options.octokit();
    const { data } = await gh.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", { owner: this.owner, repo: this.repo, run_id: run.runId, name: "results", per_page: 100 });
    const artifacts = ((data.artifacts ?? []) as Array<{ id: number; name: string; expired?: boolean; created_at?: string }>)
      .filter((a) => a.name === "results" && !a.expired)
      .sort((a, b) => (b.created_at ?? "").localeCompare(a.created_at ?? ""));
    if (artifacts.length === 0) return null;
    const res = await gh.request("GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", {
      owner: this.owner,
      repo: this.repo,
      artifact_id: artifacts[0].id,
      archive_format: "zip",
    });
    const zip = res.data instanceof ArrayBuffer ? new Uint8Array(res.data) : new Uint8Array(res.data as ArrayBufferLike);
    const entry = readZipEntry(zip, "results.json", 16 * 1024 * 1024);
    return entry ? entry.toString("utf8") : null;
  }

  async classifyFailure(run: RunRef & { conclusion: string | null }): Promise<{ kind: FailureKind; detail: string }> {
    const gh = await this.options.octokit();
    const { data } = await gh.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", {
      owner: this.owner,
      repo: this.repo,
      run_id: run.runId,
      attempt_number: run.attempt,
      per_page: 100,
    });
    return classifyJobs(run.conclusion, data.jobs ?? []);
  }
}

/** What the in-process job function returns: results.json text, or a thrown error (a job failure). */
export type JobFunction = (request: Record<string, unknown>, context: { runId: number; attempt: number }) => Promise<string>;

/**
 * Runs jobs in this process. `onCompleted` is called (after `dispatch` has returned) with the
 * run's conclusion; wire it to `ExpoService.onRunCompleted`. An error thrown with
 * `{ infrastructure: true }` is classified as the infrastructure's (for retry tests).
 */
export class InProcessDispatcher implements Dispatcher {
  private nextRunId = 1000;
  private readonly runs = new Map<string, { request: RequestRecord; results: string | null; conclusion: string | null; kind: FailureKind; detail: string; status: string }>();
  /** Settles when every started job has finished and reported (for tests). */
  readonly pending = new Set<Promise<void>>();
  onCompleted: (run: RunInfo & { requestId: string }) => Promise<void> = async () => {};

  constructor(private readonly job: JobFunction) {}

  async dispatch(request: RequestRecord): Promise<RunInfo | null> {
    return this.start(request, this.nextRunId++, 1);
  }

  async retry(request: RequestRecord, run: RunRef): Promise<RunInfo | null> {
    return this.start(request, run.runId, run.attempt + 1);
  }

  async findRun(request: RequestRecord): Promise<RunInfo | null> {
    for (const [k, v] of [...this.runs.entries()].reverse()) {
      if (v.request.id === request.id) {
        const [runId, attempt] = k.split(":").map(Number);
        return { runId, attempt, status: v.status, conclusion: v.conclusion };
      }
    }
    return null;
  }

  async downloadResults(run: RunRef): Promise<string | null> {
    return this.runs.get(`${run.runId}:${run.attempt}`)?.results ?? null;
  }

  async classifyFailure(run: RunRef): Promise<{ kind: FailureKind; detail: string }> {
    const r = this.runs.get(`${run.runId}:${run.attempt}`);
    return r ? { kind: r.kind, detail: r.detail } : { kind: "job", detail: "unknown run" };
  }

  /** Waits until all jobs started so far (and those they trigger, such as retries) are done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private start(request: RequestRecord, runId: number, attempt: number): RunInfo {
    const key = `${runId}:${attempt}`;
    const state = { request, results: null as string | null, conclusion: null as string | null, kind: "job" as FailureKind, detail: "", status: "in_progress" };
    this.runs.set(key, state);
    const p = (async () => {
      await new Promise((r) => setImmediate(r));
      try {
        state.results = await this.job(requestFileOf(request), { runId, attempt });
        state.conclusion = "success";
      } catch (err) {
        state.conclusion = "failure";
        state.kind = (err as { infrastructure?: boolean }).infrastructure ? "infrastructure" : "job";
        state.detail = errorMessage(err);
      }
      state.status = "completed";
      await this.onCompleted({ runId, attempt, status: "completed", conclusion: state.conclusion, requestId: request.id });
    })();
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return { runId, attempt, status: "queued", conclusion: null };
  }
}
