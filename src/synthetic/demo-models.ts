/**
 * The demo's hand-built synthetic models, small enough to run on a laptop CPU in seconds,
 * built so that ExPO's α curve is *computed* by real generation and real reward scoring,
 * not drawn:
 *
 * - θ0 ("SFT"): a random Llama-style model with one reserved residual channel (dim 0) that
 *   stays constant through every layer, so column 0 of lm_head acts as a per-token logit bias.
 * - θ1 ("aligned") = θ0 + Δ, Δ = a fine-tuning-sized random nudge everywhere plus a bias on
 *   that channel: up for a set of "helpful" tokens, and — the spurious feature — up, by more,
 *   for one "filler" token the reward model dislikes. Extrapolating amplifies both: a little
 *   helps, a lot drowns the answer in filler, so the reward peaks at a moderate α.
 * - the reward model: a Mistral sequence classifier whose attention averages a per-token
 *   feature (+1 helpful, −FILLER_PENALTY filler, 0 otherwise) over the conversation, so the
 *   score rises with the share of helpful tokens and falls with filler.
 * - an unrelated model: same architecture, independently initialised (the pre-check refuses it).
 *
 * All of them are labelled synthetic in their config and card.
 */
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { deriveTinyModel, writeTinyModel, type TinyModel } from "./tiny-model.js";
import { hashString, mulberry32, normalSampler } from "../util/random.js";
import { tinyTokenizer } from "./tokenizer.js";
import { writeTinyAdapter, type TinyAdapter } from "./tiny-adapter.js";

/** Pieces the synthetic reward model likes (single tokens of the tiny tokenizer). */
export const HELPFUL_PIECES = ["the", "and", "ing", "is", "it", "to", "of", "in", "on", "at"] as const;
/** The spurious piece: the aligned model over-learnt it; the reward model penalises it. */
export const FILLER_PIECE = "!";
export const FILLER_PENALTY = 4;

export interface DemoModelsOptions {
  dir: string;
  /** Logit bias Δ for helpful tokens (through the constant channel). */
  helpfulBias?: number;
  /** Logit bias Δ for the filler token. */
  fillerBias?: number;
  /** Card metadata for θ1 (tags, base_model, …). */
  alignedCard?: Record<string, unknown>;
  sftCard?: Record<string, unknown>;
  unrelatedCard?: Record<string, unknown>;
}

export interface DemoModels {
  sft: TinyModel;
  aligned: TinyModel;
  reward: TinyModel;
  unrelated: TinyModel;
  helpfulIds: number[];
  fillerId: number;
}

const HIDDEN = 64;
const CHANNEL_VALUE = 1;

/** Token ids of the helpful pieces and the filler in the tiny tokenizer. */
export function demoTokenIds(): { helpfulIds: number[]; fillerId: number } {
  const tok = tinyTokenizer();
  const t = new Tokenizer(tok.tokenizerJson as never, tok.tokenizerConfig as never);
  const single = (piece: string) => {
    const ids = t.encode(piece).ids;
    if (ids.length !== 1) throw new Error(`demo piece "${piece}" is not a single token`);
    return ids[0];
  };
  return { helpfulIds: HELPFUL_PIECES.map(single), fillerId: single(FILLER_PIECE) };
}

export async function writeDemoModels(options: DemoModelsOptions): Promise<DemoModels> {
  const { helpfulIds, fillerId } = demoTokenIds();
  const helpfulBias = options.helpfulBias ?? 0.175;
  const fillerBias = options.fillerBias ?? 0.19;

  // θ0: keep residual channel 0 constant: embeddings put CHANNEL_VALUE there, and no layer writes to it.
  const keepChannel = (name: string, values: Float64Array, shape: number[]) => {
    if (name === "model.embed_tokens.weight") for (let r = 0; r < shape[0]; r++) values[r * shape[1]] = CHANNEL_VALUE;
    if (/\.(o_proj|down_proj)\.weight$/.test(name)) values.fill(0, 0, shape[1]); // row 0 of [hidden, in]
    if (name === "lm_head.weight") for (let r = 0; r < shape[0]; r++) values[r * shape[1]] = 0;
  };
  const sft = await writeTinyModel({ dir: join(options.dir, "sft"), hiddenSize: HIDDEN, layers: 2, heads: 4, kvHeads: 2, seed: 11, adjust: keepChannel, card: options.sftCard });

  // θ1 = θ0 + Δ: fine-tuning-sized noise (0.5 % of each tensor's RMS) plus the logit biases.
  const aligned = await deriveTinyModel({
    from: sft.dir,
    dir: join(options.dir, "aligned"),
    seed: 12,
    card: options.alignedCard,
    delta: (name, theta0, shape) => {
      const normal = normalSampler(mulberry32(hashString(name) ^ 12));
      let rms = 0;
      for (const v of theta0) rms += v * v;
      rms = Math.sqrt(rms / theta0.length);
      const d = new Float64Array(theta0.length);
      for (let i = 0; i < d.length; i++) d[i] = 0.005 * rms * normal();
      if (name === "lm_head.weight") {
        for (let r = 0; r < shape[0]; r++) d[r * shape[1]] = 0;
        for (const id of helpfulIds) d[id * shape[1]] = helpfulBias;
        d[fillerId * shape[1]] = fillerBias;
      }
      if (name === "model.embed_tokens.weight") for (let r = 0; r < shape[0]; r++) d[r * shape[1]] = 0;
      if (/\.(o_proj|down_proj)\.weight$/.test(name)) d.fill(0, 0, shape[1]);
      return d;
    },
  });

  // Reward model: uniform causal attention (q = k = 0) averages feature channel 1 into channel 2; the head reads channel 2.
  const rewardHidden = 32;
  const reward = await writeTinyModel({
    dir: join(options.dir, "reward"),
    architecture: "mistral",
    head: "reward",
    hiddenSize: rewardHidden,
    layers: 1,
    heads: 2,
    kvHeads: 1,
    seed: 21,
    adjust: (name, values, shape) => {
      if (name === "model.embed_tokens.weight") {
        values.fill(0);
        for (let r = 0; r < shape[0]; r++) values[r * shape[1]] = CHANNEL_VALUE;
        for (const id of helpfulIds) values[id * shape[1] + 1] = 1;
        values[fillerId * shape[1] + 1] = -FILLER_PENALTY;
      } else if (/norm\.weight$/.test(name)) {
        values.fill(1);
      } else if (name.endsWith("v_proj.weight")) {
        values.fill(0);
        values[0 * shape[1] + 1] = 1; // kv head 0, dim 0 ← channel 1
      } else if (name.endsWith("o_proj.weight")) {
        values.fill(0);
        values[2 * shape[1] + 0] = 1; // channel 2 ← head 0 dim 0 (query heads 0 and 1 share kv head 0)
      } else if (name === "score.weight") {
        values.fill(0);
        values[2] = 10;
      } else {
        values.fill(0); // q, k (uniform attention) and the MLP
      }
    },
    card: { tags: ["synthetic", "reward-model"] },
  });

  const unrelated = await writeTinyModel({ dir: join(options.dir, "unrelated"), hiddenSize: HIDDEN, layers: 2, heads: 4, kvHeads: 2, seed: 999, card: options.unrelatedCard });
  return { sft, aligned, reward, unrelated, helpfulIds, fillerId };
}

/**
 * θ1 as a PEFT LoRA adapter on the demo's θ0, the way a QLoRA DPO run publishes it: rank-4
 * LoRA on q_proj and v_proj (a fine-tuning-sized nudge, 0.5 % of θ0's RMS) and, through
 * `rank_pattern`, a rank-1 LoRA on lm_head that carries the same logit biases as the full
 * demo θ1 (B·A puts them in column 0, the constant channel). Its ExPO is a scale of that
 * update, so the α curve has the same shape as the full model's.
 */
export async function writeDemoAdapter(options: { dir: string; base: string; baseModelName: string; card?: Record<string, unknown>; helpfulBias?: number; fillerBias?: number }): Promise<TinyAdapter> {
  const { helpfulIds, fillerId } = demoTokenIds();
  const helpfulBias = options.helpfulBias ?? 0.175;
  const fillerBias = options.fillerBias ?? 0.19;
  return writeTinyAdapter({
    base: options.base,
    dir: options.dir,
    baseModelName: options.baseModelName,
    r: 4,
    loraAlpha: 8,
    targetModules: ["q_proj", "v_proj", "lm_head"],
    rankPattern: { lm_head: 1 },
    relativeUpdate: 0.005,
    seed: 12,
    card: options.card,
    factors: (module, { out, in: inF, scale }) => {
      if (module !== "lm_head") return null;
      const a = new Float64Array(inF);
      a[0] = 1 / CHANNEL_VALUE;
      const b = new Float64Array(out);
      for (const id of helpfulIds) b[id] = helpfulBias / scale;
      b[fillerId] = fillerBias / scale;
      return { a, b };
    },
  });
}

const TOPICS = ["the sea", "bread", "rain", "cats", "the moon", "trains", "gardens", "music", "winter", "bees", "maps", "tea", "rivers", "clocks", "birds", "paper"];
const ASKS = ["Tell me about", "Explain", "Write a line on"];
const THIRD = ["for a child.", "in one sentence.", "kindly."];

/** A fixed, built-in prompt list (the real job uses UltraFeedback's test_gen split). */
export function demoPrompts(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) out.push(`${ASKS[i % ASKS.length]} ${TOPICS[i % TOPICS.length]} ${THIRD[Math.floor(i / TOPICS.length) % THIRD.length]}`);
  return out;
}
