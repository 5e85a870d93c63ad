/**
 * The extrapolation plan: pure, from the two checkpoints' tensor headers and the options to
 * one action per output tensor and the output's shard layout (mergekit's plan/executor
 * split; src/expo/executor.ts runs it). Nothing here reads tensor data.
 *
 * Per tensor (θ1 = the aligned model, θ0 = its SFT parent):
 * - float in both → extrapolate θ2 = θ1 + α_t(θ1 − θ0) in double precision, written in θ1's
 *   dtype or the `dtype` override; different dtypes in θ0 and θ1 are fine;
 * - integer or bool → copied from θ1 unchanged (Δ means nothing there);
 * - α_t = 0 → θ1 copied (converted when the output dtype differs), even where θ0 is NaN;
 * - embeddings / lm_head whose first (vocabulary) dimension grew in θ1 → the rows θ0 has
 *   are extrapolated, the appended rows are θ1's (Δ = 0 there), and the plan reports it;
 * - lm_head missing in θ0 but tied to its embeddings there → θ0's embedding stands in;
 *   lm_head present in θ0 but θ1 ties it → θ0's copy is unused (θ1's layout wins);
 * - a tensor in only one model, a shape mismatch elsewhere, float vs non-float → an error
 *   that lists every offending tensor.
 *
 * α rules: `pattern=value`, the pattern a JavaScript regular expression searched (not
 * anchored) in the tensor name; the first rule that matches sets α_t, else the global α.
 */
import { DTYPE_BYTES, isFloatDtype, type Dtype, type FloatDtype } from "../safetensors/dtype.js";
import { SINGLE_FILE, shardFileName } from "../safetensors/shard-index.js";
import { UserError } from "../util/errors.js";

export interface TensorHeader {
  dtype: Dtype;
  shape: readonly number[];
}

export interface AlphaRule {
  /** The text the user gave, e.g. `lm_head|embed_tokens=0`. */
  source: string;
  pattern: RegExp;
  alpha: number;
}

export interface PlanOptions {
  alpha: number;
  rules?: readonly AlphaRule[];
  /** Output dtype of float tensors; default: θ1's dtype of each tensor. */
  dtype?: FloatDtype;
  /** Maximum bytes of tensor data per output shard (a larger tensor gets a shard alone). Default 5 GB. */
  shardSize?: number;
  /** `tie_word_embeddings` from each model's config (undefined: not known). */
  tieWordEmbeddings?: { theta0?: boolean; theta1?: boolean };
}

export interface ExtrapolateAction {
  kind: "extrapolate";
  name: string;
  dtype: FloatDtype;
  shape: number[];
  alpha: number;
  /** The α rule that set α (its source text), or null for the global α. */
  rule: string | null;
  theta1: { name: string; dtype: FloatDtype };
  theta0: { name: string; dtype: FloatDtype };
  /** Elements extrapolated from the start (all of them unless the vocabulary grew). */
  sharedElements: number;
  /** Set when θ1 has more vocabulary rows than θ0: the rows beyond are θ1's. */
  vocab?: { theta0Rows: number; theta1Rows: number };
  /** Set when θ0's values come from another tensor (tied embeddings). */
  tiedFrom?: string;
}

export interface CopyAction {
  kind: "copy";
  name: string;
  dtype: Dtype;
  shape: number[];
  theta1: { name: string; dtype: Dtype };
  reason: "non-float" | "alpha-zero";
  alpha: number;
  rule: string | null;
}

export type TensorAction = ExtrapolateAction | CopyAction;

export interface PlannedShard {
  file: string;
  tensors: string[];
  bytes: number;
}

export interface ExtrapolationPlan {
  actions: TensorAction[];
  shards: PlannedShard[];
  /** Tensor data bytes of the output. */
  outputBytes: number;
  /** Human-readable notes: vocabulary growth, tied embeddings, unused θ0 tensors. */
  notes: string[];
  /** How many tensors each α rule (or the global α, key "(default)") decided. */
  ruleCounts: Record<string, number>;
}

export const DEFAULT_SHARD_SIZE = 5_000_000_000;

const VOCAB_TENSOR = /(^|\.)(embed_tokens|lm_head|wte|word_embeddings|embed_in|embed_out|shared)\.weight$/;
const LM_HEAD = "lm_head.weight";

/** Parses `--alpha-rule` text: `REGEX=VALUE`, split at the last `=`. */
export function parseAlphaRule(text: string, flag = "--alpha-rule"): AlphaRule {
  const eq = text.lastIndexOf("=");
  if (eq <= 0 || eq === text.length - 1) throw new UserError(`${flag} "${text}": expected PATTERN=ALPHA, e.g. 'lm_head|embed_tokens=0'`);
  const patternText = text.slice(0, eq);
  const alpha = parseAlpha(text.slice(eq + 1), `${flag} "${text}"`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(patternText);
  } catch (err) {
    throw new UserError(`${flag} "${text}": "${patternText}" is not a valid regular expression (${(err as Error).message})`);
  }
  return { source: text, pattern, alpha };
}

export function parseAlpha(text: string, what = "--alpha"): number {
  const t = text.trim();
  const value = t === "" ? NaN : Number(t);
  if (!Number.isFinite(value)) throw new UserError(`${what}: "${text}" is not a finite number`);
  // α < 0 interpolates towards θ0 (−1 is θ0 itself): the search's α = −0.5 sanity check
  // (the paper's Figure 1) needs it. Below −1 would extrapolate past θ0, which no one wants.
  if (value < -1) throw new UserError(`${what}: α must be ≥ −1 (0 is θ1, −1 is θ0; ExPO uses α > 0), got ${text}`);
  return value;
}

export function alphaFor(name: string, options: Pick<PlanOptions, "alpha" | "rules">): { alpha: number; rule: string | null } {
  for (const rule of options.rules ?? []) {
    rule.pattern.lastIndex = 0;
    if (rule.pattern.test(name)) return { alpha: rule.alpha, rule: rule.source };
  }
  return { alpha: options.alpha, rule: null };
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function listNames(names: string[], max = 20): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(", ");
  return names.length > max ? `${shown}, … (${names.length} in all)` : shown;
}

/**
 * Plans θ2 from the tensor headers of θ0 (SFT) and θ1 (aligned). The output keeps θ1's
 * tensor names and order (pass θ1's map in file order).
 */
export function planExtrapolation(
  theta0: ReadonlyMap<string, TensorHeader>,
  theta1: ReadonlyMap<string, TensorHeader>,
  options: PlanOptions,
): ExtrapolationPlan {
  parseAlpha(String(options.alpha));
  const notes: string[] = [];
  const actions: TensorAction[] = [];
  const onlyIn1: string[] = [];
  const shapeErrors: string[] = [];
  const kindErrors: string[] = [];
  const ruleCounts: Record<string, number> = {};
  const used0 = new Set<string>();

  for (const [name, h1] of theta1) {
    const { alpha, rule } = alphaFor(name, options);
    ruleCounts[rule ?? "(default)"] = (ruleCounts[rule ?? "(default)"] ?? 0) + 1;
    let name0 = name;
    let tiedFrom: string | undefined;
    if (!theta0.has(name) && name.endsWith(LM_HEAD)) {
      const embed = [...theta0.keys()].find((k) => /(^|\.)embed_tokens\.weight$/.test(k) && k.startsWith(name.slice(0, -LM_HEAD.length)));
      if (embed && options.tieWordEmbeddings?.theta0 !== false) {
        name0 = embed;
        tiedFrom = embed;
        notes.push(`"${name}" is absent in θ0, whose embeddings are tied: θ0's "${embed}" stands in for it`);
      }
    }
    const h0 = theta0.get(name0);
    if (!h0) {
      onlyIn1.push(name);
      continue;
    }
    used0.add(name0);
    const float1 = isFloatDtype(h1.dtype), float0 = isFloatDtype(h0.dtype);
    if (float1 !== float0) {
      kindErrors.push(`"${name}": θ0 ${h0.dtype}, θ1 ${h1.dtype}`);
      continue;
    }
    if (!float1) {
      if (!sameShape(h0.shape, h1.shape)) shapeErrors.push(`"${name}": θ0 [${h0.shape.join(", ")}] vs θ1 [${h1.shape.join(", ")}]`);
      else actions.push({ kind: "copy", name, dtype: h1.dtype, shape: [...h1.shape], theta1: { name, dtype: h1.dtype }, reason: "non-float", alpha, rule });
      continue;
    }
    const dtype1 = h1.dtype as FloatDtype, dtype0 = h0.dtype as FloatDtype;
    const outDtype = options.dtype ?? dtype1;
    let sharedElements = numel(h1.shape);
    let vocab: ExtrapolateAction["vocab"];
    if (!sameShape(h0.shape, h1.shape)) {
      const vocabLike = VOCAB_TENSOR.test(name);
      const sameTail = h0.shape.length === h1.shape.length && h1.shape.length >= 1 && sameShape(h0.shape.slice(1), h1.shape.slice(1));
      if (vocabLike && sameTail && h1.shape[0] > h0.shape[0]) {
        vocab = { theta0Rows: h0.shape[0], theta1Rows: h1.shape[0] };
        sharedElements = numel(h0.shape);
        notes.push(`"${name}": θ1 has ${h1.shape[0] - h0.shape[0]} more vocabulary rows than θ0 (${h0.shape[0]} → ${h1.shape[0]}); rows ${h0.shape[0]}–${h1.shape[0] - 1} are copied from θ1 (Δ = 0 there)`);
      } else if (vocabLike && sameTail) {
        shapeErrors.push(`"${name}": θ1 has fewer vocabulary rows (${h1.shape[0]}) than θ0 (${h0.shape[0]}); ExPO needs θ1 to keep θ0's vocabulary`);
        continue;
      } else {
        shapeErrors.push(`"${name}": θ0 [${h0.shape.join(", ")}] vs θ1 [${h1.shape.join(", ")}]`);
        continue;
      }
    }
    if (alpha === 0) {
      actions.push({ kind: "copy", name, dtype: outDtype, shape: [...h1.shape], theta1: { name, dtype: dtype1 }, reason: "alpha-zero", alpha, rule });
      continue;
    }
    actions.push({
      kind: "extrapolate",
      name,
      dtype: outDtype,
      shape: [...h1.shape],
      alpha,
      rule,
      theta1: { name, dtype: dtype1 },
      theta0: { name: name0, dtype: dtype0 },
      sharedElements,
      ...(vocab ? { vocab } : {}),
      ...(tiedFrom ? { tiedFrom } : {}),
    });
  }

  const onlyIn0: string[] = [];
  for (const name of theta0.keys()) {
    if (theta1.has(name) || used0.has(name)) continue;
    if (name.endsWith(LM_HEAD) && options.tieWordEmbeddings?.theta1 === true) {
      notes.push(`θ0 has "${name}" but θ1 ties its embeddings: θ0's "${name}" is not used`);
      continue;
    }
    onlyIn0.push(name);
  }

  const problems: string[] = [];
  if (onlyIn1.length) problems.push(`${onlyIn1.length} tensor(s) only in θ1 (--aligned): ${listNames(onlyIn1)}`);
  if (onlyIn0.length) problems.push(`${onlyIn0.length} tensor(s) only in θ0 (--sft): ${listNames(onlyIn0)}`);
  if (shapeErrors.length) problems.push(`${shapeErrors.length} shape mismatch(es): ${shapeErrors.slice(0, 20).join("; ")}${shapeErrors.length > 20 ? "; …" : ""}`);
  if (kindErrors.length) problems.push(`${kindErrors.length} tensor(s) float in one model and not in the other: ${kindErrors.slice(0, 20).join("; ")}`);
  if (problems.length) {
    throw new UserError(`the two checkpoints do not line up (is θ1 really trained from θ0?):\n  - ${problems.join("\n  - ")}`);
  }

  const shards = assignShards(actions, options.shardSize ?? DEFAULT_SHARD_SIZE);
  return { actions, shards, outputBytes: shards.reduce((s, x) => s + x.bytes, 0), notes, ruleCounts };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** What shard assignment needs of a tensor (an action, or any planned output tensor). */
export type ShardedTensor = Pick<TensorAction, "name" | "dtype" | "shape">;

export function actionBytes(a: ShardedTensor): number {
  return numel(a.shape) * DTYPE_BYTES[a.dtype];
}

/** Greedy, in order: a new shard when the next tensor would push this one past `shardSize`. */
export function assignShards(actions: readonly ShardedTensor[], shardSize: number): PlannedShard[] {
  if (!(shardSize > 0)) throw new UserError(`--shard-size must be positive, got ${shardSize}`);
  const groups: { tensors: string[]; bytes: number }[] = [];
  let current: { tensors: string[]; bytes: number } | null = null;
  for (const a of actions) {
    const bytes = actionBytes(a);
    if (!current || (current.tensors.length > 0 && current.bytes + bytes > shardSize)) {
      current = { tensors: [], bytes: 0 };
      groups.push(current);
    }
    current.tensors.push(a.name);
    current.bytes += bytes;
  }
  if (groups.length === 0) groups.push({ tensors: [], bytes: 0 });
  return groups.map((g, i) => ({ file: groups.length === 1 ? SINGLE_FILE : shardFileName(i, groups.length), ...g }));
}
