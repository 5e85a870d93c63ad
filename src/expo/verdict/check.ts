/**
 * `checkPair`: is θ1 (the aligned model) mode-connected to θ0 (its SFT parent), so that
 * ExPO can extrapolate θ2 = θ1 + α(θ1 − θ0)? Reads kilobytes — config, tokenizer, card,
 * safetensors headers and a sample of tensor rows by range — and returns a Verdict with
 * every reason in words and numbers. See docs/check.md.
 *
 * Errors: a model that cannot be reached (not found, gated, no access, rate-limited past the
 * retries) throws the Hub layer's typed error (a UserError) — the check could not run. A model
 * that can be reached but is unusable (broken config, hostile or truncated safetensors
 * header, bad shard index) is a `refuse` reason: the pair cannot be extrapolated.
 */
import { parseModelConfig, type ModelConfig } from "../../checkpoint/config.js";
import { openModelWeightsFrom, type ModelWeights } from "../../checkpoint/weights.js";
import { SafetensorsError } from "../../safetensors/header.js";
import { ShardIndexError } from "../../safetensors/shard-index.js";
import { HubError } from "../../hub/errors.js";
import { UserError } from "../../util/errors.js";
import { baseModelHints } from "./base-hints.js";
import { cardFromMetadata, parseCard, sameRepoId, type CardInfo } from "./card.js";
import { adapterBaseModel, checkAdapterOnBase } from "./adapter.js";
import { ADAPTER_CONFIG_FILE, isAdapter, type LoraAdapter } from "../../checkpoint/adapter.js";
import { checkLineage } from "./lineage.js";
import { aggregate, judgeWeights, measureSamples, planSamples } from "./sample.js";
import { resolveModel, type HubSettings, type ModelSource } from "./source.js";
import { compareConfigs, compareTensors, judgeNonFloat } from "./structure.js";
import { baseCandidate, identicalShare, judgeSibling, measureBaseDirection, siblingByLineage, type BaseDirection } from "./sibling.js";
import { resolveThresholds, type Thresholds } from "./thresholds.js";
import { compareTokenizers } from "./tokenizer.js";
import { sortReasons, verdictOf, type ModelSummary, type Reason, type TensorStat, type Verdict } from "./types.js";

export interface CheckPairOptions {
  /** θ0, the SFT checkpoint: a local folder or `owner/name[@revision]`. For a LoRA adapter θ1 it defaults to the adapter's base model. */
  sft?: string;
  /** θ1, the DPO/RLHF model trained from θ0. */
  aligned: string;
  /** Hub ids for local folders, so lineage can be compared (`--sft-id`, `--aligned-id`). */
  sftId?: string;
  alignedId?: string;
  /**
   * The base θ0 and θ1 may both come from (a folder or `owner/name[@revision]`), to tell a
   * child of θ0 from a sibling; default: the single parent θ1's card names when it is not θ0.
   * `false`: never read a base.
   */
  base?: string | false;
  /** Overrides of DEFAULT_THRESHOLDS (validated). */
  thresholds?: Partial<Thresholds>;
  /** Hub URL (else HF_ENDPOINT, else huggingface.co), token, fetch, retry policy. */
  hub?: HubSettings;
}

interface Side {
  source: ModelSource;
  config: ModelConfig | null;
  configError: string | null;
  tokenizerJson: string | null;
  tokenizerConfig: Record<string, unknown> | null;
  hasChatTemplateFile: boolean;
  card: CardInfo;
  weights: ModelWeights | null;
  weightsError: string | null;
}

const CHAT_TEMPLATE_FILES = ["chat_template.jinja", "chat_template.json"];

/** An error that says the model content is broken (→ refuse), as opposed to unreachable (→ throw). */
function isContentError(err: unknown): boolean {
  if (err instanceof HubError) return false;
  return err instanceof SafetensorsError || err instanceof ShardIndexError || err instanceof UserError || err instanceof SyntaxError || err instanceof RangeError;
}

async function readSide(source: ModelSource): Promise<Side> {
  const { access } = source;
  source.counter.phase = "files";
  // Sequential: keeps per-request counting exact and the Hub load gentle.
  const configText = await access.readText("config.json");
  let config: ModelConfig | null = null;
  let configError: string | null = null;
  if (configText === null) configError = "config.json is missing";
  else {
    try {
      config = parseModelConfig(configText, `${source.label}/config.json`);
    } catch (err) {
      configError = (err as Error).message;
    }
  }
  const tokenizerJson = await access.readText("tokenizer.json");
  const tcText = await access.readText("tokenizer_config.json");
  let tokenizerConfig: Record<string, unknown> | null = null;
  if (tcText !== null) {
    try {
      const parsed = JSON.parse(tcText) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) tokenizerConfig = parsed as Record<string, unknown>;
    } catch {
      tokenizerConfig = null;
    }
  }
  let hasChatTemplateFile = false;
  if (!(typeof tokenizerConfig?.chat_template === "string" || Array.isArray(tokenizerConfig?.chat_template))) {
    for (const f of CHAT_TEMPLATE_FILES) if (await access.exists(f)) hasChatTemplateFile = true;
  }
  const card = source.cardData ? cardFromMetadata(source.cardData) : parseCard(await access.readText("README.md"));

  source.counter.phase = "headers";
  let weights: ModelWeights | null = null;
  let weightsError: string | null = null;
  try {
    weights = await openModelWeightsFrom(access);
  } catch (err) {
    if (!isContentError(err)) throw err;
    weightsError = (err as Error).message;
  }
  return { source, config, configError, tokenizerJson, tokenizerConfig, hasChatTemplateFile, card, weights, weightsError };
}

function summary(side: Side): ModelSummary {
  const w = side.weights;
  return {
    ref: side.source.ref,
    kind: side.source.kind,
    id: side.source.id,
    revision: side.source.revision,
    sha: side.source.sha,
    shards: w?.files.length ?? 0,
    tensors: w?.tensors.size ?? 0,
    parameters: w?.parameterCount() ?? 0,
    dataBytes: w?.totalBytes() ?? 0,
  };
}

/** Opens the base (a folder or a Hub id) and measures the direction; an unreadable base is reported, not thrown. */
async function measureAgainstBase(o: {
  base: string;
  hub?: HubSettings;
  sft: ModelWeights;
  aligned: ModelWeights;
  plan: Parameters<typeof measureBaseDirection>[0]["plan"];
  stats: TensorStat[];
}): Promise<{ direction: BaseDirection | null; error: string | null }> {
  let weights: ModelWeights | null = null;
  try {
    const source = await resolveModel(o.base, { hub: o.hub, role: "base" });
    weights = await openModelWeightsFrom(source.access);
    const direction = await measureBaseDirection({ base: weights, sft: o.sft, aligned: o.aligned, plan: o.plan, stats: o.stats });
    return { direction, error: direction ? null : "no sampled matrix of the same shape, or θ0 equals it" };
  } catch (err) {
    // The base is optional evidence: one that cannot be read (missing, gated, offline) is reported, not fatal.
    return { direction: null, error: (err as Error).message };
  } finally {
    await weights?.close();
  }
}

/** The Verdict from its parts: reasons sorted, the verdict they give, bytes and requests of both sides. */
function assembleVerdict(p: { s0: ModelSource; s1: ModelSource; sft: ModelSummary; aligned: ModelSummary; reasons: Reason[]; lineage: Verdict["lineage"]; tensors: TensorStat[]; overall: Verdict["overall"]; sibling?: Verdict["sibling"]; thresholds: Thresholds; started: number }): Verdict {
  const u0 = p.s0.counter.summary(p.sft.dataBytes, p.s0.http());
  const u1 = p.s1.counter.summary(p.aligned.dataBytes, p.s1.http());
  const totalData = p.sft.dataBytes + p.aligned.dataBytes;
  const sorted = sortReasons(p.reasons);
  return {
    schema: "expo-bot/verdict@1",
    verdict: verdictOf(sorted),
    sft: p.sft,
    aligned: p.aligned,
    reasons: sorted,
    lineage: p.lineage,
    tensors: p.tensors,
    overall: p.overall,
    ...(p.sibling ? { sibling: p.sibling } : {}),
    usage: { bytes: u0.bytes + u1.bytes, requests: u0.requests + u1.requests, sft: u0, aligned: u1, fraction: totalData > 0 ? (u0.bytes + u1.bytes) / totalData : 0 },
    thresholds: p.thresholds,
    durationMs: Date.now() - p.started,
  };
}

export async function checkPair(options: CheckPairOptions): Promise<Verdict> {
  const started = Date.now();
  const thresholds = resolveThresholds(options.thresholds ?? {});
  const s1 = await resolveModel(options.aligned, { id: options.alignedId, hub: options.hub, role: "θ1" });
  if (await isAdapter(s1.access)) return checkAdapterPair({ ...options, thresholds }, s1, started);
  if (!options.sft) throw new UserError("θ0 (--sft) is required when θ1 is a full model (only a LoRA adapter names its base model)");
  const s0 = await resolveModel(options.sft, { id: options.sftId, hub: options.hub, role: "θ0" });
  let side0: Side | null = null;
  let side1: Side | null = null;
  try {
    const settled = await Promise.allSettled([readSide(s0), readSide(s1)]);
    side0 = settled[0].status === "fulfilled" ? settled[0].value : null;
    side1 = settled[1].status === "fulfilled" ? settled[1].value : null;
    for (const r of settled) if (r.status === "rejected") throw r.reason;
    if (!side0 || !side1) throw new Error("unreachable");
    const reasons: Reason[] = [];

    // Lineage (θ1's card) and base-model hints (θ0).
    const { lineage, reasons: lineageReasons } = checkLineage(side1.card, s0.id, s1.label);
    reasons.push(...lineageReasons);
    reasons.push(...baseModelHints({ label: s0.label, card: side0.card, tokenizerConfig: side0.tokenizerConfig, hasChatTemplateFile: side0.hasChatTemplateFile, config: side0.config as Record<string, unknown> | null }));

    // Structure.
    for (const [label, side] of [["θ0", side0], ["θ1", side1]] as const) {
      if (side.configError) reasons.push({ level: "refuse", code: "config-unreadable", message: `${label} (${side.source.label}): ${side.configError}; the architecture cannot be checked.`, numbers: {} });
      if (side.weightsError) reasons.push({ level: "refuse", code: "weights-unreadable", message: `${label}'s weights cannot be read: ${side.weightsError}`, numbers: {} });
    }
    if (side0.config && side1.config) reasons.push(...compareConfigs(side0.config, side1.config));
    reasons.push(...compareTokenizers(side0.tokenizerJson, side1.tokenizerJson));

    let tensors: TensorStat[] = [];
    let overall: Verdict["overall"] = null;
    let sibling: Verdict["sibling"];
    if (side0.weights && side1.weights) {
      const { reasons: tensorReasons, comparable, nonFloat } = compareTensors(side0.weights, side1.weights);
      reasons.push(...tensorReasons);
      try {
        reasons.push(...(await judgeNonFloat(side0.weights, side1.weights, nonFloat)));
      } catch (err) {
        if (!isContentError(err)) throw err;
        reasons.push({ level: "refuse", code: "weights-unreadable", message: `Integer tensors could not be read: ${(err as Error).message}`, numbers: {} });
      }
      const plan = planSamples(side0.weights, side1.weights, comparable, thresholds);
      s0.counter.phase = "samples";
      s1.counter.phase = "samples";
      try {
        const measured = await measureSamples(side0.weights, side1.weights, plan);
        tensors = measured.stats;
        overall = aggregate(tensors);
        const identical = identicalShare(tensors);
        if (overall) overall.identicalShare = identical;
        reasons.push(...judgeWeights(tensors, overall, measured.nonFinite, thresholds));
        // Child or sibling: compare both with the base they may share (sibling.ts).
        const base = options.base === false ? null : options.base ?? baseCandidate(side1.card, s0.id);
        let direction: BaseDirection | null = null;
        let baseError: string | null = null;
        if (base) {
          const measuredBase = await measureAgainstBase({ base, hub: options.hub, sft: side0.weights, aligned: side1.weights, plan, stats: tensors });
          direction = measuredBase.direction;
          baseError = measuredBase.error;
          sibling = { base, share: direction?.share ?? null, cosine: direction?.cosine ?? null, error: baseError };
        }
        reasons.push(...judgeSibling({ lineageSibling: siblingByLineage(side1.card, side0.card, s0.id), base, direction, baseError, identical }));
      } catch (err) {
        if (!isContentError(err)) throw err;
        reasons.push({ level: "refuse", code: "weights-unreadable", message: `Sampled tensors could not be read: ${(err as Error).message}`, numbers: {} });
      }
    }

    return assembleVerdict({ s0, s1, sft: summary(side0), aligned: summary(side1), reasons, lineage, tensors, overall, sibling, thresholds, started });
  } finally {
    await Promise.all([side0?.weights?.close(), side1?.weights?.close()]);
  }
}

/** θ1 is a PEFT LoRA adapter: θ0 defaults to the base it names; see ./adapter.ts. */
async function checkAdapterPair(options: Omit<CheckPairOptions, "thresholds"> & { thresholds: Thresholds }, s1: ModelSource, started: number): Promise<Verdict> {
  const card1 = s1.cardData ? cardFromMetadata(s1.cardData) : parseCard(await s1.access.readText("README.md"));
  const named = adapterBaseModel(await s1.access.readText(ADAPTER_CONFIG_FILE), card1);
  const sftRef = options.sft ?? named;
  if (!sftRef) throw new UserError(`θ1 (${s1.label}) is a LoRA adapter that names no base model (no base_model_name_or_path that is a Hub id, no single base_model in its card): pass θ0 with --sft`);
  const s0 = await resolveModel(sftRef, { id: options.sftId ?? (options.sft ? undefined : named), hub: options.hub, role: "θ0" });
  const side0 = await readSide(s0);
  let adapter: LoraAdapter | null = null;
  try {
    const reasons: Reason[] = [];
    if (side0.configError) reasons.push({ level: "refuse", code: "config-unreadable", message: `θ0 (${s0.label}): ${side0.configError}; the architecture cannot be checked.`, numbers: {} });
    if (side0.weightsError) reasons.push({ level: "refuse", code: "weights-unreadable", message: `θ0's weights cannot be read: ${side0.weightsError}`, numbers: {} });
    reasons.push(...baseModelHints({ label: s0.label, card: side0.card, tokenizerConfig: side0.tokenizerConfig, hasChatTemplateFile: side0.hasChatTemplateFile, config: side0.config as Record<string, unknown> | null }));
    s0.counter.phase = "samples";
    const result = await checkAdapterOnBase({ s1, theta0Id: s0.id, theta0Weights: side0.weights, theta0Tokenizer: side0.tokenizerJson, card1, thresholds: options.thresholds });
    adapter = result.adapter;
    reasons.push(...result.reasons);
    const sft = summary(side0);
    const w1 = adapter?.weights;
    const aligned: ModelSummary = { ref: s1.ref, kind: s1.kind, id: s1.id, revision: s1.revision, sha: s1.sha, shards: w1 ? 1 : 0, tensors: w1?.tensors.size ?? 0, parameters: w1?.parameterCount() ?? 0, dataBytes: w1?.totalBytes() ?? 0 };
    const status = !result.summary.baseModel || !s0.id ? "unknown" : sameRepoId(result.summary.baseModel, s0.id) ? "confirmed" : "mismatch";
    const lineage: Verdict["lineage"] = { status, via: status === "unknown" ? null : "base_model", named: result.summary.baseModel ? [result.summary.baseModel] : [] };
    const verdict = assembleVerdict({ s0, s1, sft, aligned, reasons, lineage, tensors: result.tensors, overall: aggregate(result.tensors), thresholds: options.thresholds, started });
    return { ...verdict, adapter: result.summary };
  } finally {
    await Promise.all([side0.weights?.close(), adapter?.weights.close()]);
  }
}
