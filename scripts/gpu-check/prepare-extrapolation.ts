/**
 * Writes tiny θ0/θ1 pairs and this project's extrapolations of them (through the real CLI),
 * plus manifest-extrapolation.json, for `check_extrapolation.py` to verify on a machine with
 * the reference safetensors implementation, PyTorch and transformers:
 *   - every output file opens with the reference parser, and the index's total_size is right;
 *   - every value equals θ1 + α_t(θ1 − θ0) computed in float64 and rounded once (RNE) to the
 *     output dtype, bit for bit, by an oracle written independently in NumPy;
 *   - transformers loads the output folder with no missing or unexpected weights.
 *
 * Usage: npx tsx scripts/gpu-check/prepare-extrapolation.ts OUT_DIR
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { main } from "../../src/cli.js";
import { deriveTinyModel, writeTinyModel, type TinyModelOptions } from "../../src/synthetic/tiny-model.js";

const out = process.argv[2];
if (!out) {
  console.error("usage: npx tsx scripts/gpu-check/prepare-extrapolation.ts OUT_DIR");
  process.exit(2);
}
const root = resolve(out);
await mkdir(root, { recursive: true });

interface Case {
  name: string;
  base: Omit<TinyModelOptions, "dir">;
  aligned?: { dtype?: TinyModelOptions["dtype"]; extraTokens?: string[] };
  alpha: number;
  rules?: string[];
  dtype?: string;
  shardSize?: string;
}

const cases: Case[] = [
  { name: "llama-bf16-sharded", base: { architecture: "llama", dtype: "BF16", shards: 3, kvHeads: 2 }, alpha: 0.3, shardSize: "60kB" },
  { name: "qwen2-f16-rules", base: { architecture: "qwen2", dtype: "F16" }, alpha: 0.5, rules: ["lm_head|embed_tokens=0", "mlp=1.5"] },
  { name: "llama-tied-vocab-growth", base: { architecture: "llama", dtype: "BF16", tieEmbeddings: true }, aligned: { extraTokens: ["<tool>", "</tool>"] }, alpha: 1 },
  { name: "mistral-mixed-dtypes-to-f32", base: { architecture: "mistral", dtype: "F32" }, aligned: { dtype: "BF16" }, alpha: 2, dtype: "f32" },
  { name: "llama-large-alpha-bf16", base: { architecture: "llama", dtype: "BF16" }, alpha: 10 },
];

const entries = [];
for (const c of cases) {
  const dir = join(root, c.name);
  const sft = join(dir, "sft");
  const aligned = join(dir, "aligned");
  const expo = join(dir, "expo");
  await writeTinyModel({ dir: sft, seed: 5, ...c.base });
  await deriveTinyModel({ from: sft, dir: aligned, relativeDelta: 0.01, seed: 6, dtype: c.aligned?.dtype ?? c.base.dtype, extraTokens: c.aligned?.extraTokens });
  const argv = ["extrapolate", "--sft", sft, "--aligned", aligned, "--alpha", String(c.alpha), "--out", expo, "--overwrite", "--quiet"];
  for (const r of c.rules ?? []) argv.push("--alpha-rule", r);
  if (c.dtype) argv.push("--dtype", c.dtype);
  if (c.shardSize) argv.push("--shard-size", c.shardSize);
  const code = await main(argv);
  if (code !== 0) throw new Error(`${c.name}: expo-bot extrapolate exited with ${code}`);
  entries.push({ name: c.name, sft: `${c.name}/sft`, aligned: `${c.name}/aligned`, out: `${c.name}/expo`, alpha: c.alpha, rules: c.rules ?? [], dtype: c.dtype ?? null });
  console.log(`${c.name}: α=${c.alpha} → ${expo}`);
}
await writeFile(join(root, "manifest-extrapolation.json"), JSON.stringify({ generator: "expo-bot scripts/gpu-check/prepare-extrapolation.ts", cases: entries }, null, 2) + "\n");
console.log(`wrote ${entries.length} cases to ${root}`);
