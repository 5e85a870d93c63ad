/**
 * ExPO for a LoRA adapter θ1 = θ0 + s·B·A: θ2 = θ1 + α(θ1 − θ0) = θ0 + (1 + α)·s·B·A.
 *
 * Two outputs:
 * - the scaled adapter (default): the same lora_A / lora_B bytes, `lora_alpha` and every
 *   `alpha_pattern` value multiplied by 1 + α (src/checkpoint/adapter.ts explains why that
 *   scales every module, rsLoRA and rank patterns included), full tensors extrapolated
 *   against θ0 as for full models. The factor goes into lora_alpha, not B: rescaling B would
 *   round every element of B again (bf16 keeps 8 bits), while lora_alpha is a float64 in the
 *   JSON, so the scaling costs no precision and the tensors stay bit-identical to θ1's.
 * - `merge`: the full model θ0 + (1 + α)·s·B·A, streamed tensor by tensor from θ0's shards
 *   (src/expo/adapter/chunks.ts), θ0's config and side files overlaid with the adapter's
 *   tokenizer files.
 *
 * Both are written under a temporary name and renamed into place.
 */
import { join } from "node:path";
import { openAdapterFrom, scaledAdapterConfig, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, type LoraAdapter } from "../../checkpoint/adapter.js";
import { grownVocabulary } from "../../checkpoint/lora-update.js";
import { copySideFiles, describeSource, PROVENANCE_FILE, toolVersion, writeOutputConfig } from "../../checkpoint/model-folder.js";
import { localFolderAccess, openModelWeights, type ModelWeights } from "../../checkpoint/weights.js";
import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../../safetensors/dtype.js";
import { formatShardIndex, INDEX_FILE } from "../../safetensors/shard-index.js";
import { writeSafetensors, type TensorSpec } from "../../safetensors/writer.js";
import { buildDirectoryAtomic, writeFileAtomic } from "../../util/atomic.js";
import { UserError } from "../../util/errors.js";
import { writeFile } from "node:fs/promises";
import { ChunkWorkspace, emptyStats } from "../kernel.js";
import { assignShards, DEFAULT_SHARD_SIZE, type AlphaRule, type TensorAction, type TensorHeader } from "../plan.js";
import type { ExtrapolationReport, TensorReport } from "../extrapolate.js";
import { convertedChunks, DEFAULT_CHUNK_ELEMENTS, fullTensorChunks, mergedLoraChunks, type MergeStats } from "./chunks.js";
import { planAdapter, type AdapterPlan } from "./plan.js";

export interface AdapterExtrapolateParams {
  sft: string;
  aligned: string;
  alpha: number;
  rules: readonly AlphaRule[];
  dtype?: FloatDtype;
  shardSize?: number;
  out: string;
  overwrite?: boolean;
  merge?: boolean;
  allowNonFinite?: boolean;
  chunkElements?: number;
  sources?: { sft?: { repo?: string; revision?: string }; aligned?: { repo?: string; revision?: string } };
}

export interface AdapterReport {
  output: "adapter" | "merged";
  r: number;
  loraAlpha: { theta1: number; output: number | null };
  useRslora: boolean;
  /** 1 + α. */
  factor: number;
  modules: number;
  fullTensors: number;
  /** s per module (min and max: rank/alpha patterns make them differ). */
  scale: { min: number; max: number };
  baseModel: string | null;
}

function headersOf(w: ModelWeights): Map<string, TensorHeader> {
  const fileIndex = new Map(w.files.map((f, i) => [f, i]));
  const entries = [...w.tensors.entries()].sort((a, b) => fileIndex.get(a[1].file)! - fileIndex.get(b[1].file)! || a[1].info.dataOffsets[0] - b[1].info.dataOffsets[0]);
  return new Map(entries.map(([n, l]) => [n, { dtype: l.info.dtype, shape: l.info.shape }]));
}

function adapterSummary(adapter: LoraAdapter, plan: AdapterPlan, output: "adapter" | "merged"): AdapterReport {
  const scales = plan.modules.map((m) => m.scale);
  return {
    output,
    r: adapter.config.r,
    loraAlpha: { theta1: adapter.config.loraAlpha, output: output === "adapter" ? adapter.config.loraAlpha * plan.factor : null },
    useRslora: adapter.config.useRslora,
    factor: plan.factor,
    modules: plan.modules.length,
    fullTensors: plan.full.actions.length,
    scale: { min: scales.length ? Math.min(...scales) : 0, max: scales.length ? Math.max(...scales) : 0 },
    baseModel: adapter.config.baseModel,
  };
}

export async function extrapolateAdapter(params: AdapterExtrapolateParams): Promise<ExtrapolationReport & { adapter: AdapterReport }> {
  const started = performance.now();
  // The adapter's config is read and judged first: DoRA and the like are refused before θ0 is opened.
  const adapter = await openAdapterFrom(localFolderAccess(params.aligned));
  let theta0: ModelWeights;
  try {
    theta0 = await openModelWeights(params.sft);
  } catch (err) {
    await adapter.weights.close();
    throw err instanceof UserError ? err : new UserError(`--sft ${params.sft}: ${(err as Error).message}`);
  }
  try {
    const headers0 = headersOf(theta0);
    // A merged model keeps θ0's dtype (adapters often save modules_to_save in f32) unless --dtype says otherwise.
    const dtypes0 = new Set([...headers0.values()].map((h) => h.dtype).filter(isFloatDtype));
    const theta0Dtype = dtypes0.size === 1 ? ([...dtypes0][0] as FloatDtype) : null;
    const fullDtype = params.dtype ?? (params.merge ? (theta0Dtype ?? undefined) : undefined);
    const plan = planAdapter(headers0, adapter, { alpha: params.alpha, rules: params.rules, dtype: fullDtype });
    const chunkElements = params.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
    return await buildDirectoryAtomic(
      params.out,
      async (tmp) => {
        const written = params.merge
          ? await writeMerged({ tmp, plan, theta0, adapter, headers0, dtype: params.dtype, shardSize: params.shardSize ?? DEFAULT_SHARD_SIZE, chunkElements })
          : await writeScaledAdapter({ tmp, plan, theta0, adapter, chunkElements });
        const problems = written.perTensor.filter((t) => t.nonFiniteInputs > 0 || t.overflows > 0);
        if (problems.length && !params.allowNonFinite) {
          throw new UserError(`${problems.length} tensor(s) with NaN/Inf inputs or results beyond the output dtype: ${problems.slice(0, 10).map((t) => `"${t.name}"`).join(", ")}. Nothing was written. Lower α, write a wider --dtype, or pass --allow-nonfinite.`);
        }
        let sideFiles: string[];
        if (params.merge) {
          const fromBase = await copySideFiles(params.sft, tmp);
          const fromAdapter = await copySideFiles(params.aligned, tmp);
          sideFiles = [...new Set([...fromBase, ...fromAdapter])];
          const config = await writeOutputConfig(params.sft, tmp, params.dtype ?? theta0Dtype);
          // Vocabulary grown by the adapter's full embedding/lm_head: the merged config must say so.
          // By shape, not by the plan's action: at α = 0 the full tensors are copies, and the vocabulary is grown all the same.
          const grown = grownVocabulary(headers0, adapter);
          if (grown !== null) {
            config.vocab_size = grown;
            await writeFile(join(tmp, "config.json"), JSON.stringify(config, null, 2) + "\n");
          }
          sideFiles.push("config.json");
        } else {
          sideFiles = await copySideFiles(params.aligned, tmp);
          await writeFile(join(tmp, ADAPTER_CONFIG_FILE), JSON.stringify(scaledAdapterConfig(adapter.config, plan.factor), null, 2) + "\n");
          sideFiles.push(ADAPTER_CONFIG_FILE);
        }
        const summary = adapterSummary(adapter, plan, params.merge ? "merged" : "adapter");
        const deltas = written.perTensor.map((t) => t.relativeDelta).filter((x): x is number => x !== null && Number.isFinite(x)).sort((x, y) => x - y);
        const maxT = written.perTensor.reduce<TensorReport | null>((m, t) => (t.relativeDelta !== null && (m === null || t.relativeDelta > m.relativeDelta!) ? t : m), null);
        const nonFiniteInputs = written.perTensor.reduce((s, t) => s + t.nonFiniteInputs, 0);
        const overflows = written.perTensor.reduce((s, t) => s + t.overflows, 0);
        const report: ExtrapolationReport & { adapter: AdapterReport } = {
          out: params.out,
          alpha: params.alpha,
          rules: params.rules.map((r) => ({ rule: r.source, alpha: r.alpha, tensors: plan.full.ruleCounts[r.source] ?? 0 })),
          dtype: params.dtype ?? (params.merge ? theta0Dtype : null),
          tensors: { total: written.perTensor.length, extrapolated: written.perTensor.filter((t) => t.action === "extrapolate").length, copied: written.perTensor.filter((t) => t.action === "copy").length },
          parameters: written.parameters,
          bytesRead: written.bytesRead,
          bytesWritten: written.bytesWritten,
          files: [...written.files, ...sideFiles, PROVENANCE_FILE].sort(),
          seconds: (performance.now() - started) / 1000,
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
          threads: 0,
          nonFiniteInputs,
          overflows,
          relativeDelta: deltas.length ? { min: deltas[0], median: deltas[Math.floor(deltas.length / 2)], max: deltas[deltas.length - 1], mean: deltas.reduce((s, x) => s + x, 0) / deltas.length, maxTensor: maxT?.name ?? null } : null,
          notes: plan.notes,
          perTensor: written.perTensor,
          adapter: summary,
        };
        const provenance = {
          tool: { name: "expo-bot", version: toolVersion() },
          method: params.merge
            ? "ExPO for a LoRA adapter (Zheng et al., 2024): θ2 = θ0 + (1 + α)·s·B·A on every adapted module, each value computed in double precision (Σ_k B[i,k]·A[k,j], k ascending) and rounded once to the output dtype; full tensors θ1 + α(θ1 − θ0) as for full models"
            : "ExPO for a LoRA adapter (Zheng et al., 2024): θ2 = θ0 + (1 + α)·s·B·A, written as the same adapter with lora_alpha and alpha_pattern multiplied by 1 + α (lora_A/lora_B bit-identical to θ1's); full tensors θ1 + α(θ1 − θ0) rounded once",
          created: new Date().toISOString(),
          sources: { sft: describeSource(params.sft, params.sources?.sft), aligned: describeSource(params.aligned, params.sources?.aligned) },
          alpha: params.alpha,
          adapter: summary,
          filesFrom: params.merge ? "θ0, then the adapter's tokenizer and template files" : "the adapter (θ1)",
          notes: plan.notes,
          perTensor: written.perTensor.map((t) => ({ name: t.name, action: t.action, alpha: t.alpha, dtype: t.dtype, relativeDelta: t.relativeDelta })),
        };
        await writeFileAtomic(join(tmp, PROVENANCE_FILE), JSON.stringify(provenance, null, 2) + "\n");
        return report;
      },
      { overwrite: params.overwrite },
    );
  } finally {
    await Promise.all([theta0.close(), adapter.weights.close()]);
  }
}

interface Written {
  files: string[];
  perTensor: TensorReport[];
  parameters: number;
  bytesRead: number;
  bytesWritten: number;
}

function fullReport(action: TensorAction, stats: ReturnType<typeof emptyStats>, name: string): TensorReport {
  return {
    name,
    action: action.kind,
    alpha: action.alpha,
    rule: action.rule,
    dtype: action.dtype,
    relativeDelta: action.kind === "extrapolate" ? Math.sqrt(stats.sumDelta2 / stats.sumTheta0Sq) : null,
    nonFiniteInputs: stats.nonFiniteInputs,
    overflows: stats.overflows,
    ...(action.kind === "extrapolate" && action.vocab ? { vocab: action.vocab } : {}),
  };
}

async function writeScaledAdapter(p: { tmp: string; plan: AdapterPlan; theta0: ModelWeights; adapter: LoraAdapter; chunkElements: number }): Promise<Written> {
  const { plan, adapter } = p;
  const byKey = new Map<string, { action: TensorAction; stats: ReturnType<typeof emptyStats> }>();
  for (const action of plan.full.actions) byKey.set(plan.fullKeys.get(action.name)!, { action, stats: emptyStats() });
  const specs: TensorSpec[] = [];
  for (const [key, { info }] of adapter.weights.tensors) {
    const full = byKey.get(key);
    specs.push({ name: key, dtype: full ? full.action.dtype : info.dtype, shape: full ? full.action.shape : info.shape });
  }
  const ws = new ChunkWorkspace(p.chunkElements);
  // Input read: every adapter tensor once, plus θ0's rows of each extrapolated full tensor.
  let bytesRead = adapter.weights.totalBytes();
  for (const { action } of byKey.values()) if (action.kind === "extrapolate") bytesRead += action.sharedElements * DTYPE_BYTES[action.theta0.dtype];
  const result = await writeSafetensors(
    join(p.tmp, ADAPTER_WEIGHTS_FILE),
    specs,
    async function* (spec) {
      const full = byKey.get(spec.name);
      if (full) {
        yield* fullTensorChunks({ action: full.action, key: spec.name, theta0: p.theta0, adapter: adapter.weights, ws, stats: full.stats, chunkElements: p.chunkElements });
      } else {
        // lora_A / lora_B: θ1's bytes, untouched.
        yield await adapter.weights.readBytes(spec.name);
      }
    },
    { metadata: { format: "pt" } },
  );
  const perTensor: TensorReport[] = [];
  for (const m of plan.modules) {
    for (const name of [m.a, m.b]) perTensor.push({ name, action: "copy", alpha: plan.alpha, rule: null, dtype: adapter.weights.get(name).info.dtype, relativeDelta: null, nonFiniteInputs: 0, overflows: 0 });
  }
  for (const [key, { action, stats }] of byKey) perTensor.push(fullReport(action, stats, key));
  return { files: [ADAPTER_WEIGHTS_FILE], perTensor, parameters: specs.reduce((s, t) => s + t.shape.reduce((x, y) => x * y, 1), 0), bytesRead, bytesWritten: result.bytes };
}

async function writeMerged(p: { tmp: string; plan: AdapterPlan; theta0: ModelWeights; adapter: LoraAdapter; headers0: Map<string, TensorHeader>; dtype?: FloatDtype; shardSize: number; chunkElements: number }): Promise<Written> {
  const { plan, theta0, adapter } = p;
  const lora = new Map(plan.modules.map((m) => [m.baseTensor, { m, stats: { nonFinite: 0, sumUpdate2: 0, sumTheta0Sq: 0 } as MergeStats }]));
  const full = new Map(plan.full.actions.map((a) => [a.name, { action: a, stats: emptyStats() }]));
  const outDtype = (name: string, h: TensorHeader): string => full.get(name)?.action.dtype ?? (p.dtype && isFloatDtype(h.dtype) ? p.dtype : h.dtype);
  // θ0's tensors in θ0's order; a full tensor takes θ1's shape (a grown vocabulary).
  const specs: TensorSpec[] = [...p.headers0].map(([name, h]) => ({ name, dtype: outDtype(name, h) as TensorSpec["dtype"], shape: full.get(name)?.action.shape ?? [...h.shape] }));
  const shards = assignShards(specs, p.shardSize);
  const specByName = new Map(specs.map((s) => [s.name, s]));
  const ws = new ChunkWorkspace(p.chunkElements);
  // Input read: θ0 once, the adapter once.
  const bytesRead = theta0.totalBytes() + adapter.weights.totalBytes();
  let bytesWritten = 0;
  for (const shard of shards) {
    const result = await writeSafetensors(
      join(p.tmp, shard.file),
      shard.tensors.map((n) => specByName.get(n)!),
      async function* (spec) {
        const l = lora.get(spec.name);
        const f = full.get(spec.name);
        const source = l
          ? mergedLoraChunks({ m: l.m, factor: plan.factor, theta0, adapter: adapter.weights, outDtype: spec.dtype as FloatDtype, stats: l.stats, chunkElements: p.chunkElements })
          : f
            ? fullTensorChunks({ action: f.action, key: plan.fullKeys.get(spec.name)!, theta0, adapter: adapter.weights, ws, stats: f.stats, chunkElements: p.chunkElements })
            : convertedChunks({ weights: theta0, name: spec.name, outDtype: spec.dtype, ws, chunkElements: p.chunkElements });
        yield* source;
      },
      { metadata: { format: "pt" } },
    );
    bytesWritten += result.bytes;
  }
  if (shards.length > 1) {
    const index = formatShardIndex(shards.flatMap((s) => s.tensors.map((t) => [t, s.file] as [string, string])), shards.reduce((s, x) => s + x.bytes, 0));
    await writeFileAtomic(join(p.tmp, INDEX_FILE), index);
  }
  const perTensor: TensorReport[] = specs.map((s) => {
    const l = lora.get(s.name);
    if (l) return { name: s.name, action: "extrapolate", alpha: plan.alpha, rule: null, dtype: s.dtype, relativeDelta: Math.sqrt(l.stats.sumUpdate2 / l.stats.sumTheta0Sq), nonFiniteInputs: 0, overflows: l.stats.nonFinite };
    const f = full.get(s.name);
    if (f) return fullReport(f.action, f.stats, s.name);
    return { name: s.name, action: "copy", alpha: 0, rule: null, dtype: s.dtype, relativeDelta: null, nonFiniteInputs: 0, overflows: 0 };
  });
  return { files: [...shards.map((s) => s.file), ...(shards.length > 1 ? [INDEX_FILE] : [])], perTensor, parameters: specs.reduce((s, t) => s + t.shape.reduce((x, y) => x * y, 1), 0), bytesRead, bytesWritten };
}
