/**
 * Choosing the next token from a row of logits: presence / frequency penalties (OpenAI's
 * definition, over the tokens generated so far), then temperature, top-k and top-p (the order
 * of transformers' logits processors and warpers), then a draw from a seeded generator.
 * Temperature 0 (or `greedy`) takes the arg-max after the penalties.
 */

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
  let a = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

  // Candidates: tokens within NEGLIGIBLE of the best scaled logit, sorted by logit.
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (row[i] > max) max = row[i];
  const floor = max - NEGLIGIBLE * temperature;
  const candidates: number[] = [];
  for (let i = 0; i < vocab; i++) if (row[i] >= floor) candidates.push(i);
  candidates.sort((a, b) => row[b] - row[a] || a - b);
  let kept = candidates;
  const topK = options.topK ?? 0;
  if (topK > 0 && topK < kept.length) kept = kept.slice(0, topK);
  const weights = kept.map((i) => Math.exp((row[i] - max) / temperature));
  let total = weights.reduce((s, w) => s + w, 0);
  const topP = options.topP ?? 1;
  if (topP < 1) {
    // The smallest prefix whose probability reaches top_p (at least one token).
    let cumulative = 0;
    let n = 0;
    while (n < weights.length && (n === 0 || cumulative < topP * total)) cumulative += weights[n++];
    kept = kept.slice(0, n);
    weights.length = n;
    total = cumulative;
  }
  let u = random() * total;
  for (let i = 0; i < kept.length; i++) {
    u -= weights[i];
    if (u < 0) return kept[i];
  }
  return kept[kept.length - 1];
}
