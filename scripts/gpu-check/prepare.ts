/**
 * Writes, into the folder given as argument, tiny synthetic checkpoints for each architecture
 * and option the embedded backend supports, the token ids to test them on, and this
 * project's logits for those ids (through `expo-bot generate|score --dump-logits`), plus a
 * manifest.json. Copy the folder to a machine with PyTorch + transformers and run
 *
 *   python scripts/gpu-check/compare_logits.py --manifest OUT/manifest.json
 *
 * Usage: npx tsx scripts/gpu-check/prepare.ts OUT_DIR
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { main } from "../../src/cli.js";
import { loadRewardModel } from "../../src/inference/index.js";
import { TINY_CASES, TINY_REWARD_CASES, tokenSequence, writeTinyCase, type TinyCase } from "../../src/inference/test-support.js";

const out = process.argv[2];
if (!out) {
  console.error("usage: npx tsx scripts/gpu-check/prepare.ts OUT_DIR");
  process.exit(2);
}
const root = resolve(out);
await mkdir(root, { recursive: true });

interface Entry {
  name: string;
  head: "causal" | "reward";
  model: string;
  ids: string;
  npy: string;
  /** Reward models: the score expo-bot reports for the whole sequence (last non-padding token). */
  pooledScore?: number;
}
const entries: Entry[] = [];
const cases: [TinyCase, "causal" | "reward"][] = [...TINY_CASES.map((c) => [c, "causal"] as [TinyCase, "causal"]), ...TINY_REWARD_CASES.map((c) => [c, "reward"] as [TinyCase, "reward"])];
for (const [c, head] of cases) {
  const dir = await writeTinyCase(root, c, 7);
  // Byte tokens only (valid for the tiny tokenizer); longer than any sliding window.
  const ids = tokenSequence(Math.max(c.seqLen, 16), 256, 5);
  const idsFile = join(root, `${c.name}.ids.json`);
  const npy = join(root, `${c.name}.npy`);
  await writeFile(idsFile, JSON.stringify(ids) + "\n");
  const argv = head === "causal" ? ["generate", "--model", dir] : ["score", "--reward-model", dir];
  const code = await main([...argv, "--token-ids", `@${idsFile}`, "--dump-logits", npy]);
  if (code !== 0) throw new Error(`${c.name}: expo-bot exited with ${code}`);
  const entry: Entry = { name: c.name, head, model: c.name, ids: `${c.name}.ids.json`, npy: `${c.name}.npy` };
  if (head === "reward") {
    const rm = await loadRewardModel(dir);
    try {
      entry.pooledScore = (await rm.scoreTokenIds([ids]))[0][0];
    } finally {
      await rm.close();
    }
  }
  entries.push(entry);
  console.log(`${c.name}: ${ids.length} tokens → ${npy}`);
}
await writeFile(join(root, "manifest.json"), JSON.stringify({ generator: "expo-bot scripts/gpu-check/prepare.ts", tolerance: 1e-4, cases: entries }, null, 2) + "\n");
console.log(`wrote ${entries.length} cases and manifest.json to ${root}`);
