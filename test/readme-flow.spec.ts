/**
 * The README's "Use it on your own checkpoints" block, run as written on a fresh checkout with
 * no network: the four commands through bin/expo-bot.js, on local folders (synthetic models
 * whose Δ really raises the synthetic reward model's score), a prompts file, and
 * `publish --dry-run`. HF_HUB_OFFLINE=1 and an HF_ENDPOINT nothing listens on make any Hub
 * request fail loudly. The only edits: the placeholder paths, and a short answer cap so the
 * test takes seconds.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { demoPrompts, writeDemoModels } from "../src/synthetic/demo-models.js";

const repoRoot = resolve(import.meta.dirname, "..");
const root = await mkdtemp(join(tmpdir(), "expo-readme-"));
afterAll(() => rm(root, { recursive: true, force: true }));

/** The first ```sh block after the heading. */
export function readmeBlock(readme: string, heading: string): string {
  const from = readme.indexOf(heading);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !m) throw new Error(`no sh block after "${heading}"`);
  return m[1]!;
}

async function closedPort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => done(port));
    });
  });
}

describe("README: use it on your own checkpoints", () => {
  it("runs top to bottom offline: check, search, extrapolate at the chosen α, publish --dry-run", async () => {
    const block = readmeBlock(await readFile(join(repoRoot, "README.md"), "utf8"), "## Use it on your own checkpoints");
    expect(block).toMatch(/publish .*--dry-run/s);
    const models = await writeDemoModels({ dir: join(root, "models") });
    await mkdir(join(root, "work"));
    await writeFile(join(root, "work", "prompts.jsonl"), demoPrompts(48).map((prompt) => JSON.stringify({ prompt })).join("\n") + "\n");
    const script = block
      .replaceAll("npx expo-bot", `node ${join(repoRoot, "bin", "expo-bot.js")}`)
      .replaceAll("path/to/dpo-ExPO", join(root, "dpo-ExPO"))
      .replaceAll("path/to/reward-model", models.reward.dir)
      .replaceAll("path/to/sft", models.sft.dir)
      .replaceAll("path/to/dpo", models.aligned.dir)
      .replace("--out search-out", "--max-new-tokens 24 --out search-out");
    expect(script).not.toMatch(/path\/to/);
    const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1", HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, HF_HOME: join(root, "hf"), EXPO_BOT_DEBUG: "" };
    delete env.HF_TOKEN;
    delete env.HUGGING_FACE_HUB_TOKEN;
    const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], { cwd: join(root, "work"), env, encoding: "utf8", timeout: 240_000 });
    const log = `${r.stdout}\n${r.stderr}`;
    expect(r.status, log).toBe(0);
    expect(r.stdout).toMatch(/^expo-bot check: (PASS|WARN) /m);
    // search prints the per-α table, differences labelled as differences, and its decision.
    expect(r.stdout).toMatch(/Δ reward vs α=0/);
    expect(r.stdout).toMatch(/^chosen α = /m);
    const search = JSON.parse(await readFile(join(root, "work", "search-out", "search.json"), "utf8"));
    const prov = JSON.parse(await readFile(join(root, "dpo-ExPO", "expo_provenance.json"), "utf8"));
    expect(prov.alpha).toBe(search.decision.alpha);
    // publish --dry-run: the card on stdout, the plan on stderr, nothing contacted.
    expect(r.stdout).toContain("# dpo-ExPO");
    expect(r.stderr).toMatch(/dry run: would publish you\/dpo-ExPO/);
    expect(log).not.toMatch(/HF_HUB_OFFLINE is set: not contacting|connection to the Hub/);
  }, 300_000);
});
