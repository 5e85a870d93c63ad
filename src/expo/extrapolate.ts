/**
 * `extrapolate`: the library entry point (the CLI and the α search call it). Opens both
 * checkpoints, plans (src/expo/plan.ts), executes streaming into a temporary folder next to
 * `out` (src/expo/executor.ts), adds θ1's config/tokenizer/licence files and a provenance
 * file, checks for non-finite values, and renames the folder into place. On any failure
 * nothing is left at `out` (nor beside it).
 */
import { access, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { copySideFiles, describeSource, PROVENANCE_FILE, toolVersion, writeOutputConfig, type SourceRef } from "../checkpoint/model-folder.js";
import { localFolderAccess, openModelWeights, type ModelWeights } from "../checkpoint/weights.js";
import { isAdapter } from "../checkpoint/adapter.js";
import { extrapolateAdapter, type AdapterReport } from "./adapter/extrapolate-adapter.js";
import { isFloatDtype, parseFloatDtype, type FloatDtype } from "../safetensors/dtype.js";
import { buildDirectoryAtomic, writeFileAtomic } from "../util/atomic.js";
import { UserError } from "../util/errors.js";
import { parseByteSize } from "../util/progress.js";
import { executePlan, type ExecuteProgress } from "./executor.js";
import { parseAlpha, parseAlphaRule, planExtrapolation, type AlphaRule, type ExtrapolationPlan, type TensorHeader } from "./plan.js";

export interface ExtrapolateOptions {
  /** θ0: the SFT model folder. */
  sft: string;
  /** θ1: the aligned (DPO/RLHF) model folder, trained from θ0. */
  aligned: string;
  /** The global α (≥ 0). */
  alpha: number;
  /** Per-tensor α: `PATTERN=ALPHA` strings or parsed rules; first match wins. */
  rules?: ReadonlyArray<string | AlphaRule>;
  /** Output dtype of float tensors (`bf16`, `f16`, `f32`, `f64`); default θ1's. */
  dtype?: FloatDtype | string;
  /** Maximum bytes per output shard: a number or e.g. "5GB" (default 5 GB). */
  shardSize?: number | string;
  /** Output folder; must not exist (or be empty) unless `overwrite`. */
  out: string;
  overwrite?: boolean;
  /** Write the output even if inputs hold NaN/Inf or results overflow the output dtype. */
  allowNonFinite?: boolean;
  /** Worker threads (0 = this thread); default 2 for outputs ≥ 64 MB. */
  threads?: number;
  /** Elements per chunk (default 1 Mi = 2 MB of bf16 per input). */
  chunkElements?: number;
  onProgress?: (p: ExecuteProgress) => void;
  /** Hub ids and revisions for the provenance file, where the caller knows them. */
  sources?: { sft?: Partial<SourceRef>; aligned?: Partial<SourceRef> };
  /** θ1 is a LoRA adapter: write the full merged model instead of the scaled adapter. */
  merge?: boolean;
}

export interface TensorReport {
  name: string;
  action: "extrapolate" | "copy";
  alpha: number;
  rule: string | null;
  dtype: string;
  /** ‖θ1 − θ0‖ / ‖θ0‖ over the extrapolated elements (null for copies, NaN with non-finite inputs). */
  relativeDelta: number | null;
  nonFiniteInputs: number;
  overflows: number;
  vocab?: { theta0Rows: number; theta1Rows: number };
  tiedFrom?: string;
}

export interface ExtrapolationReport {
  out: string;
  alpha: number;
  rules: { rule: string; alpha: number; tensors: number }[];
  dtype: string | null;
  tensors: { total: number; extrapolated: number; copied: number };
  parameters: number;
  bytesRead: number;
  bytesWritten: number;
  files: string[];
  seconds: number;
  peakRssBytes: number;
  threads: number;
  nonFiniteInputs: number;
  overflows: number;
  /** Distribution of the per-tensor relative Δ norms (extrapolated tensors with finite values). */
  relativeDelta: { min: number; median: number; max: number; mean: number; maxTensor: string | null } | null;
  notes: string[];
  perTensor: TensorReport[];
  /** Set when θ1 was a LoRA adapter (src/expo/adapter/). */
  adapter?: AdapterReport;
}

function headersOf(w: ModelWeights): Map<string, TensorHeader> {
  // θ1's order: by file, then by offset within the file.
  const entries = [...w.tensors.entries()];
  const fileIndex = new Map(w.files.map((f, i) => [f, i]));
  entries.sort((a, b) => fileIndex.get(a[1].file)! - fileIndex.get(b[1].file)! || a[1].info.dataOffsets[0] - b[1].info.dataOffsets[0]);
  return new Map(entries.map(([n, l]) => [n, { dtype: l.info.dtype, shape: l.info.shape }]));
}

async function tieFlag(dir: string): Promise<boolean | undefined> {
  try {
    const c = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { tie_word_embeddings?: unknown };
    return typeof c.tie_word_embeddings === "boolean" ? c.tie_word_embeddings : undefined;
  } catch {
    return undefined; // unreadable config: writeOutputConfig reports it for θ1
  }
}

async function ensureOutFree(out: string, overwrite: boolean | undefined): Promise<void> {
  try {
    await access(out);
  } catch {
    return;
  }
  const entries = await readdir(out).catch(() => null);
  if (entries === null) throw new UserError(`--out ${out}: exists and is not a folder`);
  if (entries.length > 0 && !overwrite) throw new UserError(`--out ${out}: folder exists and is not empty (pass --overwrite to replace it)`);
}

function peakRss(): number {
  const r = process.resourceUsage();
  return r.maxRSS * 1024;
}

/** A source as the provenance file states it: the Hub repo and revision, or the local path when there is no repo. */
function provenanceSource(s: SourceRef): Partial<SourceRef> {
  return s.repo ? { repo: s.repo, ...(s.revision ? { revision: s.revision } : {}) } : s;
}

export async function extrapolate(options: ExtrapolateOptions): Promise<ExtrapolationReport> {
  const started = performance.now();
  const alpha = parseAlpha(String(options.alpha));
  const rules = (options.rules ?? []).map((r) => (typeof r === "string" ? parseAlphaRule(r) : r));
  let dtype: FloatDtype | undefined;
  if (options.dtype !== undefined) {
    try {
      dtype = isFloatDtype(options.dtype) ? options.dtype : parseFloatDtype(String(options.dtype));
    } catch (err) {
      throw new UserError(`--dtype: ${(err as Error).message}`);
    }
  }
  let shardSize: number | undefined;
  if (options.shardSize !== undefined) {
    try {
      shardSize = typeof options.shardSize === "number" ? options.shardSize : parseByteSize(options.shardSize);
    } catch (err) {
      throw new UserError(`--shard-size: ${(err as Error).message}`);
    }
    if (!(shardSize > 0)) throw new UserError(`--shard-size: must be positive, got ${options.shardSize}`);
  }
  await ensureOutFree(options.out, options.overwrite);
  // θ1 published as a PEFT LoRA adapter: ExPO is a scale of its update (src/expo/adapter/).
  if (await isAdapter(localFolderAccess(options.aligned))) {
    return extrapolateAdapter({ sft: options.sft, aligned: options.aligned, alpha, rules, dtype, shardSize, out: options.out, overwrite: options.overwrite, merge: options.merge, allowNonFinite: options.allowNonFinite, chunkElements: options.chunkElements, sources: options.sources });
  }
  if (options.merge) throw new UserError(`--merge: ${options.aligned} is not a LoRA adapter (no adapter_config.json); a full model's output is always a full model`);
  // θ1's config.json is part of the output: refuse before any tensor work if it is missing or broken.
  const alignedConfig = join(options.aligned, "config.json");
  try {
    const c = JSON.parse(await readFile(alignedConfig, "utf8"));
    if (c === null || typeof c !== "object" || Array.isArray(c)) throw new Error("not a JSON object");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`--aligned ${options.aligned}: ${code === "ENOENT" ? "no config.json (is it a model folder?)" : `config.json is unreadable (${(err as Error).message})`}`);
  }

  const theta0 = await openModelWeights(options.sft).catch((err) => {
    throw err instanceof UserError ? err : new UserError(`--sft ${options.sft}: ${(err as Error).message}`);
  });
  let theta1: ModelWeights;
  try {
    theta1 = await openModelWeights(options.aligned);
  } catch (err) {
    await theta0.close();
    throw err instanceof UserError ? err : new UserError(`--aligned ${options.aligned}: ${(err as Error).message}`);
  }
  try {
    const plan: ExtrapolationPlan = planExtrapolation(headersOf(theta0), headersOf(theta1), {
      alpha,
      rules,
      dtype,
      shardSize,
      tieWordEmbeddings: { theta0: await tieFlag(options.sft), theta1: await tieFlag(options.aligned) },
    });
    const outDtypes = new Set(plan.actions.filter((a) => isFloatDtype(a.dtype)).map((a) => a.dtype as FloatDtype));
    const configDtype = dtype ?? (outDtypes.size === 1 ? [...outDtypes][0] : null);

    return await buildDirectoryAtomic(
      options.out,
      async (tmp) => {
        const result = await executePlan(plan, theta0, theta1, tmp, { threads: options.threads, chunkElements: options.chunkElements, onProgress: options.onProgress });
        const byName = new Map(plan.actions.map((a) => [a.name, a]));
        const perTensor: TensorReport[] = result.tensors.map((t) => {
          const a = byName.get(t.name)!;
          return {
            name: t.name,
            action: a.kind,
            alpha: a.alpha,
            rule: a.rule,
            dtype: a.dtype,
            relativeDelta: a.kind === "extrapolate" ? Math.sqrt(t.sumDelta2 / t.sumTheta0Sq) : null,
            nonFiniteInputs: t.nonFiniteInputs,
            overflows: t.overflows,
            ...(a.kind === "extrapolate" && a.vocab ? { vocab: a.vocab } : {}),
            ...(a.kind === "extrapolate" && a.tiedFrom ? { tiedFrom: a.tiedFrom } : {}),
          };
        });
        const nonFiniteInputs = perTensor.reduce((s, t) => s + t.nonFiniteInputs, 0);
        const overflows = perTensor.reduce((s, t) => s + t.overflows, 0);
        if ((nonFiniteInputs > 0 || overflows > 0) && !options.allowNonFinite) {
          const bad = perTensor.filter((t) => t.nonFiniteInputs > 0 || t.overflows > 0);
          const list = bad.slice(0, 10).map((t) => `"${t.name}" (${t.nonFiniteInputs} NaN/Inf input(s), ${t.overflows} overflow(s) to ${t.dtype} ±Inf)`).join("; ");
          throw new UserError(
            `${nonFiniteInputs} element(s) with NaN/Inf in the inputs and ${overflows} result(s) beyond the range of the output dtype, in ${bad.length} tensor(s): ${list}${bad.length > 10 ? "; …" : ""}. ` +
              `Nothing was written. Lower α (or set it per tensor with --alpha-rule), write a wider --dtype, or pass --allow-nonfinite to keep them.`,
          );
        }
        const sideFiles = await copySideFiles(options.aligned, tmp);
        await writeOutputConfig(options.aligned, tmp, configDtype);
        const ruleSummary = rules.map((r) => ({ rule: r.source, alpha: r.alpha, tensors: plan.ruleCounts[r.source] ?? 0 }));
        const deltas = perTensor.filter((t) => t.relativeDelta !== null && Number.isFinite(t.relativeDelta));
        const sorted = deltas.map((t) => t.relativeDelta!).sort((x, y) => x - y);
        const maxT = deltas.reduce<TensorReport | null>((m, t) => (m === null || t.relativeDelta! > m.relativeDelta! ? t : m), null);
        const seconds = (performance.now() - started) / 1000;
        const report: ExtrapolationReport = {
          out: options.out,
          alpha,
          rules: ruleSummary,
          dtype: configDtype,
          tensors: { total: plan.actions.length, extrapolated: plan.actions.filter((a) => a.kind === "extrapolate").length, copied: plan.actions.filter((a) => a.kind === "copy").length },
          parameters: plan.actions.reduce((s, a) => s + a.shape.reduce((x, y) => x * y, 1), 0),
          bytesRead: result.bytesRead,
          bytesWritten: result.bytesWritten,
          files: [...result.files, "config.json", ...sideFiles, PROVENANCE_FILE].sort(),
          seconds,
          peakRssBytes: peakRss(),
          threads: result.threads,
          nonFiniteInputs,
          overflows,
          relativeDelta: sorted.length
            ? { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], mean: sorted.reduce((s, x) => s + x, 0) / sorted.length, maxTensor: maxT?.name ?? null }
            : null,
          notes: plan.notes,
          perTensor,
        };
        const provenance = {
          tool: { name: "expo-bot", version: toolVersion() },
          method: "ExPO model extrapolation (Zheng et al., 2024): θ2 = θ1 + α·(θ1 − θ0), each value computed in double precision and rounded once (round-to-nearest-even) to the output dtype",
          // No timestamp and no runner path when the Hub names a source: the same sources and
          // α give the same file, so re-running a job publishes nothing new and the published
          // repo does not show the runner's folder layout.
          sources: { sft: provenanceSource(describeSource(options.sft, options.sources?.sft)), aligned: provenanceSource(describeSource(options.aligned, options.sources?.aligned)) },
          alpha,
          alphaRules: ruleSummary,
          dtype: configDtype ?? "mixed (per tensor, from θ1)",
          filesFrom: "aligned (θ1)",
          tensors: report.tensors,
          parameters: report.parameters,
          nonFinite: { inputs: nonFiniteInputs, overflows, allowed: Boolean(options.allowNonFinite) },
          notes: plan.notes,
          perTensor: perTensor.map((t) => ({ name: t.name, action: t.action, alpha: t.alpha, rule: t.rule, dtype: t.dtype, relativeDelta: t.relativeDelta, ...(t.vocab ? { vocab: t.vocab } : {}), ...(t.tiedFrom ? { tiedFrom: t.tiedFrom } : {}) })),
        };
        await writeFileAtomic(join(tmp, PROVENANCE_FILE), JSON.stringify(provenance, null, 2) + "\n");
        return report;
      },
      { overwrite: options.overwrite },
    );
  } finally {
    await Promise.all([theta0.close(), theta1.close()]);
  }
}
