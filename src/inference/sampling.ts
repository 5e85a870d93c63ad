/**
 * Choosing the next token from a row of logits: presence / frequency penalties (OpenAI's
 * definition, over the tokens generated so far), then temperature, top-k and top-p (the order
 * of transformers' logits processors and warpers), then a draw from a seeded generator.
 * Temperature 0 (or `greedy`) takes the arg-max after the penalties.
 */
import { mulberry32 } from "../util/random.js";

export interface SamplingOptions {
  /** Most tokens to generate per prompt (default 256). */
  maxNewTokens?: number;
  /** 0 means greedy (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1: off). */
  topP?: number;
  /** Subtracted from the logit of every token already generated (OpenAI semantics). */
  presencePenalty?: number;
  /** Subtracted once per earlier occurrence of the token in the generated text. */
  frequencyPenalty?: number;
  /** Token ids that end a sequence, besides the model's eos ids. */
  stopTokenIds?: number[];
  /** Strings that end a sequence; the text is cut before the first one. */
  stop?: string[];
  /** Seed of the random draws (default 0): the same seed, prompts and model give the same output. */
  seed?: number;
  /** Take the arg-max (same as temperature 0). */
  greedy?: boolean;
  /** Keep generating past eos (benchmarks). */
  ignoreEos?: boolean;
  /** Prompts per forward batch (default 8). */
  batchSize?: number;
  /** Use the KV cache (default true); false recomputes the whole sequence each step. */
  useCache?: boolean;
  /** Apply the chat template to prompts (default: when the model folder has one). */
  chatTemplate?: boolean;
}

/** A small seeded generator (mulberry32), one per prompt so results do not depend on batching. */
export function seededRandom(seed: number, stream: number): () => number {
  return mulberry32(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b));
}

/** Logits this far below the maximum (after temperature) carry < e^-40 of the mass: ignored. */
const NEGLIGIBLE = 40;

export function argmax(values: ArrayLike<number>, offset = 0, length = values.length): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * Picks a token from `logits[offset .. offset + vocab)`. `counts` holds how often each token
 * appeared in this sequence's generated tokens.
 */
export function sampleToken(logits: Float32Array, offset: number, vocab: number, counts: Map<number, number>, options: SamplingOptions, random: () => number): number {
  const presence = options.presencePenalty ?? 0;
  const frequency = options.frequencyPenalty ?? 0;
  let row: Float32Array | Float64Array = logits.subarray(offset, offset + vocab);
  if ((presence !== 0 || frequency !== 0) && counts.size > 0) {
    row = Float64Array.from(row);
    for (const [token, n] of counts) if (token < vocab) row[token] -= presence + frequency * n;
  }
  const temperature = options.temperature ?? 1;
  if (options.greedy || temperature <= 0) return argmax(row);

  // Candidates: tokens within NEGLIGIBLE of the best scaled logit. Everything below is O(vocab)
  // with no comparison sort over the vocabulary (a sort of 150k ids per token costs ~100 ms).
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (row[i] > max) max = row[i];
  let ids: Int32Array = new Int32Array(vocab);
  let scaled = new Float64Array(vocab);
  let n = 0;
  for (let i = 0; i < vocab; i++) {
    const s = (row[i] - max) / temperature;
    if (s >= -NEGLIGIBLE) {
      ids[n] = i;
      scaled[n++] = s;
    }
  }
  const topK = options.topK ?? 0;
  if (topK > 0 && topK < n) {
    // transformers keeps every token whose score ties the k-th largest.
    const threshold = kthLargest(scaled.slice(0, n), topK);
    let m = 0;
    for (let j = 0; j < n; j++) {
      if (scaled[j] >= threshold) {
        ids[m] = ids[j];
        scaled[m++] = scaled[j];
      }
    }
    n = m;
  }
  ids = ids.subarray(0, n);
  scaled = scaled.subarray(0, n);
  const weights = new Float64Array(n);
  let total = 0;
  for (let j = 0; j < n; j++) total += weights[j] = Math.exp(scaled[j]);
  const topP = options.topP ?? 1;
  let order: ArrayLike<number> | null = null; // indices into ids, when top-p restricts them
  if (topP < 1) {
    // The smallest set of most likely tokens whose mass reaches top_p (at least one token):
    // bucket the scores, find the bucket where the running mass crosses top_p, and order only
    // that bucket's members (by score, then id).
    const BINS = 4096;
    const binOf = (s: number) => Math.min(BINS - 1, Math.floor((-s / NEGLIGIBLE) * BINS));
    const binMass = new Float64Array(BINS);
    for (let j = 0; j < n; j++) binMass[binOf(scaled[j])] += weights[j];
    const target = topP * total;
    let cumulative = 0;
    let boundary = 0;
    while (boundary < BINS - 1 && cumulative + binMass[boundary] < target) cumulative += binMass[boundary++];
    const kept: number[] = [];
    const edge: number[] = [];
    for (let j = 0; j < n; j++) {
      const b = binOf(scaled[j]);
      if (b < boundary) kept.push(j);
      else if (b === boundary) edge.push(j);
    }
    edge.sort((a, b) => scaled[b] - scaled[a] || ids[a] - ids[b]);
    for (const j of edge) {
      if (kept.length > 0 && cumulative >= target) break;
      kept.push(j);
      cumulative += weights[j];
    }
    order = kept;
    total = cumulative;
  }
  let u = random() * total;
  const count = order ? order.length : n;
  let last = 0;
  for (let t = 0; t < count; t++) {
    const j = order ? order[t] : t;
    last = j;
    u -= weights[j];
    if (u < 0) return ids[j];
  }
  return ids[last];
}

/** The k-th largest value (1-based) by quickselect; reorders `values`. */
function kthLargest(values: Float64Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target];
  }
  return values[target];
}
