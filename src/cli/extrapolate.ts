/**
 * `expo-bot extrapolate --sft M --aligned M --alpha A [--alpha-rule PATTERN=A]…
 *   [--dtype bf16|f16|f32|f64] [--shard-size 5GB] --out DIR [--json] [--overwrite]
 *   [--allow-nonfinite] [--threads N] [--ignore-check] [--allow-large-alpha]`
 */
import { readdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { extrapolate, type ExtrapolationReport } from "../expo/extrapolate.js";
import { MAX_SANE_ALPHA } from "../search/settings.js";
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { formatBytes, Progress, progressMode } from "../util/progress.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { resolveModelArg } from "./model-ref.js";
import { IGNORE_CHECK_FLAG, preCheck } from "./pre-check.js";

export const USAGE = `Usage: expo-bot extrapolate --sft M --aligned M --alpha A --out DIR [options]

Writes θ2 = θ1 + α·(θ1 − θ0) as a complete model folder, streaming tensor by tensor. The
pair is checked first, as \`expo-bot check\` does; a refused pair stops here (exit 3).
M is a model folder or a Hub id owner/name[@revision] (downloaded once to the cache).
  --sft M               θ0: the SFT model (safetensors)
  --aligned M           θ1: the DPO/RLHF model trained from θ0 (or a PEFT LoRA adapter
                        on θ0); config, tokenizer, chat
                        template and licence files of the output come from here
  --alpha A             α > 0 extrapolates (ExPO); −1 ≤ α < 0 interpolates towards θ0
                        (--alpha -0.5 and --alpha=-0.5 both work)
  --allow-large-alpha   accept |α| above ${MAX_SANE_ALPHA} (usually noise, not a model)
  ${IGNORE_CHECK_FLAG}        write the output even if the pair check refuses the pair
  --hub-url URL         Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
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
  --json-progress       progress as JSON lines on stderr (also with --json; default: a bar
                        on a TTY, plain lines otherwise)
  --quiet               no progress output

${EXIT_CODES_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    argv,
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
      "json-progress": { type: "boolean" },
      quiet: { type: "boolean" },
      "ignore-check": { type: "boolean" },
      "allow-large-alpha": { type: "boolean" },
      "hub-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  for (const flag of ["sft", "aligned", "alpha", "out"] as const) {
    if (values[flag] === undefined) throw new UserError(`--${flag} is required\n\n${USAGE}`);
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 0 || threads > 64) throw new UserError(`--threads: "${values.threads}" is not a whole number from 0 to 64`);
  }
  const alpha = parseAlphaFlag(values.alpha!);
  for (const [what, a] of [["--alpha", alpha], ...(values["alpha-rule"] ?? []).map((r) => [`--alpha-rule ${r}`, Number(r.slice(r.lastIndexOf("=") + 1))] as const)] as const) {
    if (Math.abs(a) > MAX_SANE_ALPHA && !values["allow-large-alpha"]) {
      throw new UserError(`${what}: α = ${a} is beyond ±${MAX_SANE_ALPHA}, where θ1 + α(θ1 − θ0) is usually noise rather than a model (the paper's α are 0.1–0.5); pass --allow-large-alpha if you mean it`);
    }
  }
  const quiet = values.quiet ?? false;
  const sft = await resolveModelArg({ value: values.sft, flag: "--sft", hubUrl: values["hub-url"], progress: !quiet });
  const aligned = await resolveModelArg({ value: values.aligned, flag: "--aligned", hubUrl: values["hub-url"], progress: !quiet });
  await preCheck({ command: "extrapolate", sft: sft.dir, aligned: aligned.dir, sftId: sft.hub?.repo, alignedId: aligned.hub?.repo, ignore: values["ignore-check"] ?? false, quiet: quiet || (values.json ?? false) });
  const mode = progressMode({ json: values["json-progress"] || values.json });
  let progress: Progress | null = null;
  const stopCleanup = removeTemporaryOnSignal(values.out!);
  const report = await extrapolate({
    sft: sft.dir,
    aligned: aligned.dir,
    ...(sft.hub || aligned.hub ? { sources: { ...(sft.hub ? { sft: { repo: sft.hub.repo, revision: sft.hub.revision } } : {}), ...(aligned.hub ? { aligned: { repo: aligned.hub.repo, revision: aligned.hub.revision } } : {}) } } : {}),
    alpha,
    rules: values["alpha-rule"] ?? [],
    dtype: values.dtype,
    shardSize: values["shard-size"],
    out: values.out!,
    overwrite: values.overwrite,
    allowNonFinite: values["allow-nonfinite"],
    threads,
    merge: values.merge,
    onProgress: quiet
      ? undefined
      : (p) => {
          progress ??= new Progress({ label: "extrapolate", total: p.bytesTotal, unit: "bytes", mode });
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
  return EXIT.ok;
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
