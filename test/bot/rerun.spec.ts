/**
 * A request re-run from scratch (a new runner, a fresh work folder: the same request and the
 * same θ1/θ0 commits) must not publish a second commit on `<θ1 name>-ExPO`: every file the job
 * publishes (weights, card, plot, search.json, provenance) has to be a function of the request
 * and the models alone — no time, no work-folder path, no run id. The real job steps run
 * against the local Hub (src/hub-server) on the tiny demo models.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalHub, type LocalHub } from "../../src/hub-server/index.js";
import { runJob, type JobRequest } from "../../src/job/job.js";
import { defaultSteps } from "../../src/job/steps.js";
import { demoPrompts, writeDemoModels } from "../../src/synthetic/demo-models.js";

const TOKEN = "hf_bot_rerun_token_000000001";
let root: string;
let hub: LocalHub;
let request: JobRequest;

async function folderFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name));
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "expo-bot-rerun-"));
  const card = { license: "apache-2.0" };
  await writeDemoModels({ dir: join(root, "models"), sftCard: card, alignedCard: { ...card, base_model: "org/sft", tags: ["expo"] } });
  await writeFile(join(root, "prompts.jsonl"), demoPrompts(16).map((prompt) => JSON.stringify({ prompt })).join("\n"));
  hub = await startLocalHub({ lfsThreshold: 1024 });
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("org/sft", { files: await folderFiles(join(root, "models", "sft")) });
  hub.admin.createRepo("org/dpo", { files: await folderFiles(join(root, "models", "aligned")) });
  hub.admin.createRepo("org/reward", { files: await folderFiles(join(root, "models", "reward")) });
  const sha = (repo: string) => hub.admin.repo(repo)!.branches.main!;
  request = { requestId: "expo-0123456789ab", theta1: { repo: "org/dpo", sha: sha("org/dpo") }, theta0: { repo: "org/sft", sha: sha("org/sft") }, alpha: null };
});

afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * One full job run on a "runner" laid out under `runner`: its own checkout (holding the
 * operator's prompt file) and its own work folder, so every path differs between runs.
 */
async function runFresh(runner: string) {
  const checkout = join(root, runner, "checkout");
  await mkdir(checkout, { recursive: true });
  await copyFile(join(root, "prompts.jsonl"), join(checkout, "prompts.jsonl"));
  const searchArgs = ["--reward-model", "org/reward", "--prompts", join(checkout, "prompts.jsonl"), "--max-new-tokens", "16", "--strategy", "grid", "--alphas", "0.5,1"];
  const steps = defaultSteps({ hub: { hubUrl: hub.url, token: TOKEN, sleep: async () => {}, retry: { maxRetries: 0 } }, namespace: "expo-bot", searchArgs });
  const lines: string[] = [];
  const results = await runJob({ request, out: join(root, runner, "work"), steps, log: (l) => lines.push(l) });
  return { results, lines };
}

describe("a re-run in a fresh work folder", () => {
  it("publishes nothing new: the second run finds every file already up to date", async () => {
    const first = await runFresh("runner-a");
    expect(first.results).toMatchObject({ outcome: "published", published: { repo: "expo-bot/dpo-ExPO" } });
    const repo = hub.admin.repo("expo-bot/dpo-ExPO")!;
    const head = repo.branches.main!;
    const commits = Object.keys(repo.commits);

    const second = await runFresh("another-runner/elsewhere");
    expect(second.results).toMatchObject({ outcome: "published", chosenAlpha: first.results.chosenAlpha, published: { repo: "expo-bot/dpo-ExPO", commit: head } });
    const after = hub.admin.repo("expo-bot/dpo-ExPO")!;
    // No second commit, and the head still holds the first run's files byte for byte.
    expect(Object.keys(after.commits)).toEqual(commits);
    expect(after.branches.main).toBe(head);
    expect(second.results.bytes.uploaded).toBe(0);

    // Nothing published names the runner's folders.
    const published = after.commits[head]!.files;
    const texts = Object.keys(published).filter((p) => !p.endsWith(".safetensors") && !p.endsWith(".png"));
    expect(texts).toEqual(expect.arrayContaining(["README.md", "expo_provenance.json", "alpha-curve.svg"]));
    for (const path of texts) {
      const text = await (await fetch(`${hub.url}/expo-bot/dpo-ExPO/resolve/${head}/${path}`)).text();
      expect(text, path).not.toContain(root);
      expect(text, path).not.toMatch(/expo-bot-rerun-|runner-a|checkout|work\//);
    }
  }, 120_000);
});
