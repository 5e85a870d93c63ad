import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseJobRequest, runJob, type JobSteps } from "../../src/job/job.js";
import { parseResults } from "../../src/job/results.js";
import { defaultSteps, PAPER_REWARD_MODEL, rewardModelToFetch } from "../../src/job/steps.js";
import { SHA0, SHA1 } from "./doubles.js";
import type { ConfiguredSearchParams } from "../../src/search/configured.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "expo-job-"));
  dirs.push(d);
  return d;
};
const request = { requestId: "expo-0123456789ab", theta1: { repo: "alice/chat-dpo", sha: SHA1 }, theta0: { repo: "alice/chat-sft", sha: SHA0 }, alpha: null };

function fakeSteps(over: Partial<JobSteps> = {}): JobSteps & { calls: string[] } {
  const calls: string[] = [];
  const steps: JobSteps = {
    async download() {
      calls.push("download");
      return { bytes: 1000 };
    },
    async check() {
      calls.push("check");
      return { verdict: "pass", reasons: [] };
    },
    async search() {
      calls.push("search");
      return {
        alphas: [
          { alpha: 0, reward: 1, delta: 0, ci: [0, 0], winRate: 0.5, meanLength: 100, n: 8 },
          { alpha: 0.3, reward: 1.5, delta: 0.5, ci: [0.2, 0.8], winRate: 0.75, meanLength: 110, n: 8 },
        ],
        chosenAlpha: 0.3,
        reportPath: "/x/search.json",
        plot: "alpha-curve.png",
      };
    },
    async extrapolate(_ctx, alpha) {
      calls.push(`extrapolate ${alpha}`);
      return { dir: "/x/model" };
    },
    async publish() {
      calls.push("publish");
      return { repo: "bot/chat-dpo-ExPO", commit: "c".repeat(40), url: "https://hub/bot/chat-dpo-ExPO", bytes: 500, plotUrl: "https://hub/bot/chat-dpo-ExPO/resolve/x/alpha-curve.png" };
    },
    ...over,
  };
  return Object.assign(steps, { calls });
}

describe("expo-bot job", () => {
  it("runs the steps in order and writes a valid results.json", async () => {
    const out = tmp();
    const steps = fakeSteps();
    const r = await runJob({ request, out, steps });
    expect(steps.calls).toEqual(["download", "check", "search", "extrapolate 0.3", "publish"]);
    const file = parseResults(readFileSync(join(out, "results.json"), "utf8"));
    expect(file).toEqual(r);
    expect(file).toMatchObject({ outcome: "published", chosenAlpha: 0.3, published: { repo: "bot/chat-dpo-ExPO" }, bytes: { downloaded: 1000, uploaded: 500 }, plot: expect.stringContaining("alpha-curve.png") });
    expect(Object.keys(file.timings)).toEqual(["download", "check", "search", "extrapolate", "publish"]);
  });

  it("resumes after a failed step: the rerun skips what finished", async () => {
    const out = tmp();
    let failPublish = true;
    const steps = fakeSteps({
      async publish() {
        steps.calls.push("publish");
        if (failPublish) throw new Error("Hub 503 during commit");
        return { repo: "bot/chat-dpo-ExPO", commit: "c".repeat(40), url: "https://hub/bot/chat-dpo-ExPO", bytes: 500 };
      },
    });
    const first = await runJob({ request, out, steps });
    expect(first).toMatchObject({ outcome: "failed", error: { step: "publish", message: "Hub 503 during commit" } });
    expect(parseResults(readFileSync(join(out, "results.json"), "utf8")).outcome).toBe("failed");
    failPublish = false;
    steps.calls.length = 0;
    const second = await runJob({ request, out, steps });
    expect(steps.calls).toEqual(["publish"]);
    expect(second.outcome).toBe("published");
    expect(second.bytes.downloaded).toBe(1000);
  });

  it("stops at a refused full check, and reports no gain without publishing", async () => {
    const refused = await runJob({ request, out: tmp(), steps: fakeSteps({ check: async () => ({ verdict: "refuse", reasons: ["hidden size 4096 vs 2048"] }) }) });
    expect(refused).toMatchObject({ outcome: "failed", error: { step: "check", message: expect.stringContaining("hidden size") }, verdict: { verdict: "refuse" } });
    const steps = fakeSteps();
    const search = steps.search;
    steps.search = async (ctx) => ({ ...(await search(ctx)), chosenAlpha: null });
    const noGain = await runJob({ request, out: tmp(), steps });
    expect(noGain).toMatchObject({ outcome: "no-gain", published: null });
    expect(steps.calls).not.toContain("publish");
  });

  it("validates the request file and refuses a state folder of another request", async () => {
    expect(() => parseJobRequest(JSON.stringify({ ...request, theta1: { repo: "x", sha: SHA1 } }))).toThrow(/theta1.repo/);
    expect(() => parseJobRequest(JSON.stringify({ ...request, alpha: -1 }))).toThrow(/alpha/);
    expect(parseJobRequest(JSON.stringify({ ...request, alpha: "0.3" })).alpha).toBe(0.3);
    const out = tmp();
    await runJob({ request, out, steps: fakeSteps() });
    await expect(runJob({ request: { ...request, requestId: "expo-ffffffffffff" }, out, steps: fakeSteps() })).rejects.toThrow(/belongs to request/);
  });
});

describe("the job's reward model", () => {
  it("downloads a Hub id, defaults to the paper's reward model, and leaves local folders and HTTP scorers alone", () => {
    expect(rewardModelToFetch(["--reward-model", "org/rm@abc"])).toEqual({ repo: "org/rm", revision: "abc" });
    expect(rewardModelToFetch(["--reward-model=org/rm"])).toEqual({ repo: "org/rm" });
    expect(rewardModelToFetch([])).toEqual({ repo: PAPER_REWARD_MODEL });
    expect(rewardModelToFetch(["--reward-model", tmpdir()])).toBeNull();
    expect(rewardModelToFetch(["--reward-model", "./models/rm"])).toBeNull();
    expect(rewardModelToFetch(["--scorer", "http", "--scorer-endpoint", "http://127.0.0.1:9/score"])).toBeNull();
  });

  it("refuses bad search flags when the steps are built, before any download", () => {
    expect(() => defaultSteps({ hub: {}, searchArgs: ["--n-prompts", "8"] })).toThrow(/at least 10 prompts/);
    expect(() => defaultSteps({ hub: {}, searchArgs: ["--max-token", "8"] })).toThrow(/did you mean --max-new-tokens\?/);
  });
});

describe("a pinned α in the real search step", () => {
  /** The search step with the configured search replaced by a simulated one. */
  async function pinnedSearch(alpha: number, curve: { peak: number; height: number }) {
    const { defaultSteps } = await import("../../src/job/steps.js");
    const { runSearch } = await import("../../src/search/search.js");
    const { writeSearchOutputs } = await import("../../src/search/output.js");
    const sim = await import("../../src/search/simulate.js");
    const out = tmp();
    const seen: ConfiguredSearchParams[] = [];
    const steps = defaultSteps({
      hub: { hubUrl: "http://127.0.0.1:9" },
      runSearch: async (params) => {
        seen.push(params);
        const world = new sim.Simulation({ curve, seed: 4, promptSd: 1, noiseSd: 0.8 });
        if (params.settings.strategy.kind !== "grid") throw new Error("a pinned α is searched as a one-α grid");
        const report = await runSearch({
          prompts: sim.simulatedPrompts(120, "pin"),
          generator: new sim.SimulatedGenerator(world),
          scorer: new sim.SimulatedScorer(world),
          materializer: new sim.SimulatedMaterializer(),
          models: { sft: { path: "sft", revision: "a" }, aligned: { path: "dpo", revision: "b" } },
          strategy: params.settings.strategy,
          statistics: { bootstrapResamples: 300 },
        });
        return { report, paths: await writeSearchOutputs(params.out, report) };
      },
    });
    const ctx = { request: { ...request, alpha }, out, dirs: { theta1: join(out, "t1"), theta0: join(out, "t0") }, log: () => {} };
    return { outcome: await steps.search(ctx), settings: seen[0]!.settings };
  }

  it("is published (with its gain on every prompt) only when it beats α = 0 by the search's rule", async () => {
    const good = await pinnedSearch(0.3, { peak: 0.3, height: 1 });
    expect(good.settings.strategy).toEqual({ kind: "grid", alphas: [0.3] });
    expect(good.outcome.chosenAlpha).toBe(0.3);
    expect(good.outcome.reported).toMatchObject({ source: "all-prompts", n: 120 });
    expect(good.outcome.sanity).toMatchObject({ passed: true });
    expect(JSON.parse(readFileSync(good.outcome.reportPath, "utf8"))).toMatchObject({ pinned: true });

    // Far past the peak the pinned α loses reward: nothing to publish, and the reason says why.
    const bad = await pinnedSearch(2, { peak: 0.3, height: 1 });
    expect(bad.outcome.chosenAlpha).toBeNull();
    expect(bad.outcome.reason).toMatch(/no α beats α=0/);
  });
});

describe("results.json v2", () => {
  it("carries the held-out gain and the sanity check, still reads v1, and names a bad v2 field", async () => {
    const out = tmp();
    const reported = { source: "held-out" as const, n: 250, delta: 0.2, ci: [0.05, 0.35] as [number, number], winRate: 0.56, lengthRatio: 1.1, lengthControlled: 0.15, lengthControlledCi: [0.01, 0.3] as [number, number], lengthControlledSignificant: true };
    const sanity = { alpha: -0.5, n: 64, delta: -0.4, ci: [-0.6, -0.2] as [number, number], passed: true, note: "as expected" };
    const steps = fakeSteps({
      async search() {
        return { alphas: [{ alpha: 0, reward: 1, delta: 0, ci: [0, 0], winRate: 0.5, meanLength: 100, n: 8, truncated: 0 }], chosenAlpha: 0.3, reportPath: join(out, "search.json"), plot: null, reported, sanity, reason: "α=0.3 beats α=0", notes: [] };
      },
    });
    const r = await runJob({ request, out, steps });
    const text = readFileSync(join(out, "results.json"), "utf8");
    expect(parseResults(text)).toMatchObject({ schema: "expo-bot/results@2", reported, sanity, reason: "α=0.3 beats α=0" });
    expect(parseResults(JSON.stringify({ ...r, schema: "expo-bot/results@1", reported: undefined, sanity: undefined })).schema).toBe("expo-bot/results@1");
    expect(() => parseResults(JSON.stringify({ ...r, reported: { ...reported, ci: [0.1] } }))).toThrow(/reported: expected/);
    expect(() => parseResults(JSON.stringify({ ...r, schema: "expo-bot/results@3" }))).toThrow(/expected one of/);
  });
});
