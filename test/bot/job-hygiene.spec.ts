/**
 * The runner job after a crash and on a re-run: what a killed job left on disk is removed,
 * a re-run produces byte-identical outputs (so the publish has nothing new to commit), and no
 * secret reaches results.json, the job's log lines or a comment, however an error is cut.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { extrapolate } from "../../src/expo/extrapolate.js";
import { runJob, type JobSteps } from "../../src/job/job.js";
import { MAX_ERROR_CHARS, renderFailedComment } from "../../src/publish/comments.js";
import { deriveTinyModel, writeTinyModel } from "../../src/synthetic/tiny-model.js";
import { removeAbandonedTemporaries } from "../../src/util/atomic.js";
import { SHA0, SHA1 } from "./doubles.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "expo-hygiene-"));
  dirs.push(d);
  return d;
};
const request = { requestId: "expo-0123456789ab", theta1: { repo: "alice/chat-dpo", sha: SHA1 }, theta0: { repo: "alice/chat-sft", sha: SHA0 }, alpha: null };
const TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());
}

function steps(over: Partial<JobSteps> = {}): JobSteps {
  return {
    download: async () => ({ bytes: 1 }),
    check: async () => ({ verdict: "pass", reasons: [] }),
    search: async () => ({ alphas: [{ alpha: 0, reward: 1, delta: 0, ci: [0, 0], winRate: 0.5, meanLength: 1, n: 8 }], chosenAlpha: null, reportPath: "/x", plot: null }),
    extrapolate: async () => ({ dir: "/x" }),
    publish: async () => ({ repo: "expo-bot/chat-dpo-ExPO", commit: "c".repeat(40), url: "https://huggingface.co/expo-bot/chat-dpo-ExPO", bytes: 1 }),
    ...over,
  };
}

describe("a job killed mid-step leaves nothing behind once resumed", () => {
  it("removes temporaries of dead processes and the search's α folders; a live writer's are kept", async () => {
    const out = tmp();
    const dead = deadPid();
    const abandoned = [join(out, `.model.tmp-${dead}-0a1b2c3d`), join(out, "sources", "theta1", `.model-00001.safetensors.tmp-${dead}-deadbeef`)];
    const live = join(out, `.model.tmp-${process.ppid}-01234567`);
    for (const p of [...abandoned, live]) mkdirSync(p, { recursive: true });
    writeFileSync(join(abandoned[0], "model.safetensors"), Buffer.alloc(4096));
    for (const a of ["0.5", "1"]) mkdirSync(join(out, "work", `alpha-${a}`), { recursive: true });
    const lines: string[] = [];
    const results = await runJob({ request, out, steps: steps(), log: (l) => lines.push(l) });
    expect(results.outcome).toBe("no-gain");
    expect(readdirSync(out).sort()).toEqual([".model.tmp-" + process.ppid + "-01234567", "job-state.json", "results.json", "sources", "work"].sort());
    expect(readdirSync(join(out, "sources", "theta1"))).toEqual([]);
    expect(readdirSync(join(out, "work"))).toEqual([]);
    expect(lines.filter((l) => l.includes("left by an interrupted run"))).toHaveLength(2);
    expect(await removeAbandonedTemporaries(out)).toEqual([]);
  });
});

describe("a re-run in a fresh folder publishes nothing new", () => {
  it("writes a provenance file without a timestamp or the runner's paths, identical across runs", async () => {
    const root = tmp();
    await writeTinyModel({ dir: join(root, "sft"), seed: 1 });
    await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "dpo"), seed: 2 });
    const sources = { sft: { repo: "alice/chat-sft", revision: SHA0 }, aligned: { repo: "alice/chat-dpo", revision: SHA1 } };
    await extrapolate({ sft: join(root, "sft"), aligned: join(root, "dpo"), alpha: 0.3, out: join(root, "run1", "model"), sources });
    await extrapolate({ sft: join(root, "sft"), aligned: join(root, "dpo"), alpha: 0.3, out: join(root, "run2", "model"), sources });
    const a = readFileSync(join(root, "run1", "model", "expo_provenance.json"), "utf8");
    const b = readFileSync(join(root, "run2", "model", "expo_provenance.json"), "utf8");
    expect(a).toBe(b);
    expect(a).not.toContain(root);
    expect(JSON.parse(a).sources.aligned).toEqual({ repo: "alice/chat-dpo", revision: SHA1 });
    for (const f of readdirSync(join(root, "run1", "model"))) expect(readFileSync(join(root, "run2", "model", f))).toEqual(readFileSync(join(root, "run1", "model", f)));
  });
});

describe("no token in results.json, the job's log or a comment", () => {
  it("scrubs a failing step's message in results.json and in every log line", async () => {
    const out = tmp();
    const lines: string[] = [];
    const results = await runJob({
      request,
      out,
      steps: steps({
        download: async (ctx) => {
          ctx.log(`GET https://huggingface.co/api/models/x?token=${TOKEN}`);
          throw new Error(`401 for Authorization: Bearer ${TOKEN}`);
        },
      }),
      log: (l) => lines.push(l),
    });
    expect(results.outcome).toBe("failed");
    const written = readFileSync(join(out, "results.json"), "utf8");
    expect(written).toContain("[REDACTED]");
    for (const text of [written, ...lines]) expect(text).not.toContain(TOKEN.slice(0, 12));
  });

  it("scrubs a failure comment before cutting it, so no first characters of a token survive", () => {
    for (let pad = MAX_ERROR_CHARS - 30; pad < MAX_ERROR_CHARS; pad++) {
      const body = renderFailedComment({ theta1: { id: "alice/chat-dpo" }, step: "download", message: `${"x".repeat(pad)} ${TOKEN}` });
      expect(body).not.toMatch(/hf_AbCd/);
    }
  });
});
