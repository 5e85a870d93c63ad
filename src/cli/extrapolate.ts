/**
 * `expo-bot extrapolate --sft DIR --aligned DIR --alpha A [--alpha-rule PATTERN=A]…
 *   [--dtype bf16|f16|f32|f64] [--shard-size 5GB] --out DIR [--json] [--overwrite]
 *   [--allow-nonfinite] [--threads N]`
 */
import { readdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { extrapolate, type ExtrapolationReport } from "../expo/extrapolate.js";
import { UserError } from "../util/errors.js";
import { formatBytes, Progress } from "../util/progress.js";

export const USAGE = `Usage: expo-bot extrapolate --sft DIR --aligned DIR --alpha A --out DIR [options]

Writes θ2 = θ1 + α·(θ1 − θ0) as a complete model folder, streaming tensor by tensor.
  --sft DIR             θ0: the SFT model folder (safetensors)
  --aligned DIR         θ1: the DPO/RLHF model trained from θ0 (or a PEFT LoRA adapter
                        on θ0); config, tokenizer, chat
                        template and licence files of the output come from here
  --alpha A             α > 0 extrapolates (ExPO); −1 ≤ α < 0 interpolates towards θ0
                        (write negative values as --alpha=-0.5)
  --alpha-rule P=A      per-tensor α: P is a regular expression searched in the tensor
                        name; the first matching rule wins (repeatable), e.g.
                        --alpha-rule 'lm_head|embed_tokens=0'
  --dtype D             output dtype of float tensors: bf16, f16, f32, f64 (default: θ1's)
  --shard-size S        maximum bytes per output shard (default 5GB)
  --out DIR             output folder (written under a temporary name, renamed when complete)
  --overwrite           replace --out if it exists
  --allow-nonfinite     write the output even if inputs hold NaN/Inf or results overflow
  --threads N           worker threads (default: 2 for big models, 0 = this thread)
  --merge               θ1 is a LoRA adapter: write the merged full model instead of the
                        scaled adapter (an adapter θ1 otherwise gives an adapter θ2:
                        the same lora_A/lora_B, lora_alpha × (1 + α); docs/extrapolation.md)
  --json                print the report as JSON on stdout
  --quiet               no progress output`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      sft: { type: "string" },
      aligned: { type: "string" },
      alpha: { type: "string" },
      "alpha-rule": { type: "string", multiple: true },
      dtype: { type: "string" },
      "shard-size": { type: "string" },
      out: { type: "string" },
      overwrite: { type: "boolean" },
      "allow-nonfinite": { type: "boolean" },
      threads: { type: "string" },
      merge: { type: "boolean" },
      json: { type: "boolean" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  for (const flag of ["sft", "aligned", "alpha", "out"] as const) {
    if (values[flag] === undefined) throw new UserError(`--${flag} is required\n\n${USAGE}`);
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 0 || threads > 64) throw new UserError(`--threads: "${values.threads}" is not a whole number from 0 to 64`);
  }
  let progress: Progress | null = null;
  const stopCleanup = removeTemporaryOnSignal(values.out!);
  const report = await extrapolate({
    sft: values.sft!,
    aligned: values.aligned!,
    alpha: parseAlphaFlag(values.alpha!),
    rules: values["alpha-rule"] ?? [],
    dtype: values.dtype,
    shardSize: values["shard-size"],
    out: values.out!,
    overwrite: values.overwrite,
    allowNonFinite: values["allow-nonfinite"],
    threads,
    merge: values.merge,
    onProgress: values.quiet
      ? undefined
      : (p) => {
          progress ??= new Progress({ label: "extrapolate", total: p.bytesTotal, unit: "bytes" });
          progress.update(p.bytesDone, `${p.tensorsDone}/${p.tensorsTotal} tensors`);
        },
  });
  stopCleanup();
  (progress as Progress | null)?.finish(`${report.tensors.total}/${report.tensors.total} tensors`);
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(summary(report));
  }
  return 0;
}

function parseAlphaFlag(text: string): number {
  const value = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(value)) throw new UserError(`--alpha: "${text}" is not a finite number`);
  return value;
}

export function summary(r: ExtrapolationReport): string {
  const lines = [
    `wrote ${r.out}: ${r.tensors.total} tensors (${r.tensors.extrapolated} extrapolated, ${r.tensors.copied} copied), ${r.parameters.toLocaleString("en-US")} parameters, ${r.dtype ?? "mixed dtypes"}`,
    `α = ${r.alpha}${r.rules.map((x) => `; '${x.rule}' → ${x.tensors} tensor(s)`).join("")}`,
    `read ${formatBytes(r.bytesRead)}, wrote ${formatBytes(r.bytesWritten)} in ${r.seconds.toFixed(2)} s (${(r.bytesRead / 1e9 / Math.max(r.seconds, 1e-9)).toFixed(2)} GB/s of input), peak RSS ${formatBytes(r.peakRssBytes)}, ${r.threads || "no"} worker thread(s)`,
  ];
  if (r.adapter) {
    const a = r.adapter;
    lines.push(`LoRA adapter: r = ${a.r}${a.useRslora ? " (rsLoRA)" : ""}, ${a.modules} module(s), s = ${a.scale.min === a.scale.max ? a.scale.min : `${a.scale.min}–${a.scale.max}`}, update × ${a.factor}${a.output === "adapter" ? `: lora_alpha ${a.loraAlpha.theta1} → ${a.loraAlpha.output}` : ", merged into θ0"}${a.fullTensors ? `; ${a.fullTensors} full tensor(s) extrapolated` : ""}`);
  }
  if (r.relativeDelta) {
    lines.push(`relative Δ norm ‖θ1−θ0‖/‖θ0‖ per tensor: min ${r.relativeDelta.min.toExponential(3)}, median ${r.relativeDelta.median.toExponential(3)}, max ${r.relativeDelta.max.toExponential(3)} (${r.relativeDelta.maxTensor})`);
  }
  if (r.nonFiniteInputs || r.overflows) lines.push(`warning: ${r.nonFiniteInputs} NaN/Inf input element(s), ${r.overflows} overflow(s) (kept: --allow-nonfinite)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}

/**
 * Ctrl-C or SIGTERM mid-run: the output is still under its temporary name beside --out
 * (src/util/atomic.ts); remove it so an interrupted run leaves nothing, then exit 130/143.
 */
function removeTemporaryOnSignal(out: string): () => void {
  const parent = dirname(resolve(out));
  const prefix = `.${basename(resolve(out))}.tmp-${process.pid}-`;
  const handler = (signal: NodeJS.Signals) => {
    try {
      for (const name of readdirSync(parent)) if (name.startsWith(prefix)) rmSync(join(parent, name), { recursive: true, force: true });
    } catch {
      // best effort
    }
    console.error(`expo-bot extrapolate: interrupted (${signal}); nothing was written to ${out}`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
