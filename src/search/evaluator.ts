/**
 * Evaluates α on a prefix of the (seeded, shuffled) prompt list: materializes the model,
 * generates what the cache lacks, scores, and appends each finished batch to the cache
 * before going on, so a crash loses at most one batch. Strategies only call `ensure`.
 */
import { ResultCache, alphaKey, generationKey } from "./cache.js";
import type { Generator, MaterializedModel, ModelMaterializer, ModelRevisions, Observation, Prompt, Sampling, Scorer } from "./types.js";

export interface EvaluatorOptions {
  prompts: Prompt[];
  generator: Generator;
  scorer: Scorer;
  materializer: ModelMaterializer;
  revisions: ModelRevisions;
  sampling: Sampling;
  cache?: ResultCache;
  /** Prompts generated and scored per step (and per cache append). Default 32. */
  batchSize?: number;
  /** Materialized folders kept for a later return to the same α (each is a full model). Default 1. */
  keepModels?: number;
  /**
   * Prompts at the end of `prompts` kept out of the selection: strategies see only the first
   * `prompts.length − heldOut` (through `ensure`); `ensureHeldOut` evaluates the rest, to
   * measure the chosen α's gain on prompts that played no part in choosing it. Default 0.
   */
  heldOut?: number;
  onEvent?: (event: EvaluatorEvent) => void;
  signal?: AbortSignal;
}

export type EvaluatorEvent =
  | { kind: "materialize"; alpha: number }
  | { kind: "generated"; alpha: number; count: number }
  | { kind: "evaluated"; alpha: number; done: number; target: number };

export class Evaluator {
  readonly prompts: Prompt[];
  /** Answers actually generated (cache hits excluded): the cost the strategies compete on. */
  generations = 0;
  cachedGenerations = 0;
  scored = 0;
  modelLoads = 0;
  /** Times the generator was asked for a different model than the call before (server reloads). */
  modelSwitches = 0;
  private lastGenerated: string | undefined;
  /** α of the model the generator used last (a switch-free place to continue). */
  lastAlpha: number | undefined;
  private readonly results = new Map<string, Observation[]>();
  private readonly heldOutResults = new Map<string, Observation[]>();
  readonly heldOutCount: number;
  private readonly alphas = new Map<string, number>();
  private readonly models: { alpha: string; model: MaterializedModel }[] = [];
  private readonly cache: ResultCache;

  constructor(private readonly options: EvaluatorOptions) {
    this.prompts = options.prompts;
    this.cache = options.cache ?? ResultCache.memory();
    this.heldOutCount = Math.max(0, Math.min(options.prompts.length, Math.floor(options.heldOut ?? 0)));
  }

  /** Prompts the strategies may use (the held-out ones excluded). */
  get promptCount(): number {
    return this.prompts.length - this.heldOutCount;
  }

  /** α values evaluated so far, ascending. */
  evaluatedAlphas(): number[] {
    return [...this.alphas.values()].sort((a, b) => a - b);
  }

  count(alpha: number): number {
    return this.results.get(alphaKey(alpha))?.length ?? 0;
  }

  /** Observations for α, in prompt order (a prefix of `prompts`). */
  observations(alpha: number): Observation[] {
    return this.results.get(alphaKey(alpha)) ?? [];
  }

  rewards(alpha: number, n = this.count(alpha)): Float64Array {
    const obs = this.observations(alpha);
    const out = new Float64Array(Math.min(n, obs.length));
    for (let i = 0; i < out.length; i++) out[i] = obs[i].reward;
    return out;
  }

  /** Held-out observations for α (empty until `ensureHeldOut(α)`), in prompt order. */
  heldOutObservations(alpha: number): Observation[] {
    return this.heldOutResults.get(alphaKey(alpha)) ?? [];
  }

  /** Evaluates α on every held-out prompt (the tail of `prompts` the strategies never see). */
  async ensureHeldOut(alpha: number): Promise<void> {
    const key = alphaKey(alpha);
    const done = this.heldOutResults.get(key) ?? [];
    this.heldOutResults.set(key, done);
    const tail = this.prompts.slice(this.promptCount);
    const batchSize = Math.max(1, this.options.batchSize ?? 32);
    while (done.length < tail.length) {
      this.options.signal?.throwIfAborted();
      done.push(...(await this.evaluateBatch(alpha, tail.slice(done.length, done.length + batchSize))));
    }
  }

  /** Makes sure α has results for the first `n` prompts (of the selection part). */
  async ensure(alpha: number, n: number): Promise<void> {
    const target = Math.min(n, this.promptCount);
    const key = alphaKey(alpha);
    if (!this.results.has(key)) {
      this.results.set(key, []);
      this.alphas.set(key, Number(key));
    }
    const done = this.results.get(key)!;
    const batchSize = Math.max(1, this.options.batchSize ?? 32);
    while (done.length < target) {
      this.options.signal?.throwIfAborted();
      const batch = this.prompts.slice(done.length, Math.min(target, done.length + batchSize));
      done.push(...(await this.evaluateBatch(alpha, batch)));
      this.options.onEvent?.({ kind: "evaluated", alpha, done: done.length, target });
    }
  }

  /** Forgets α entirely (an evaluation that could not start). */
  forget(alpha: number): void {
    this.results.delete(alphaKey(alpha));
    this.alphas.delete(alphaKey(alpha));
  }

  /** Releases every materialized model folder. */
  async close(): Promise<void> {
    while (this.models.length > 0) await this.models.shift()!.model.release?.();
    await this.cache.flush();
  }

  private async evaluateBatch(alpha: number, batch: Prompt[]): Promise<Observation[]> {
    const { generator, scorer, revisions, sampling } = this.options;
    const keys = batch.map((p) => generationKey({ revisions, alpha, prompt: p.text, sampling, generator: generator.id }));
    const gens = keys.map((k) => this.cache.getGeneration(k));
    const missing = gens.flatMap((g, i) => (g ? [] : [i]));
    this.cachedGenerations += batch.length - missing.length;
    if (missing.length > 0) {
      const model = await this.model(alpha);
      if (this.lastGenerated !== model.dir) this.modelSwitches++;
      this.lastGenerated = model.dir;
      this.lastAlpha = alpha;
      const out = await generator.generate(
        { alpha, dir: model.dir },
        missing.map((i) => batch[i].text),
        sampling,
        { signal: this.options.signal },
      );
      if (out.length !== missing.length) throw new Error(`generator ${generator.id} returned ${out.length} answers for ${missing.length} prompts`);
      missing.forEach((i, j) => {
        gens[i] = out[j];
        this.cache.putGeneration(keys[i], alpha, out[j]);
      });
      this.generations += missing.length;
      this.options.onEvent?.({ kind: "generated", alpha, count: missing.length });
    }
    const rewards = keys.map((k) => this.cache.getScore(k, scorer.id));
    const unscored = rewards.flatMap((r, i) => (r === undefined ? [i] : []));
    if (unscored.length > 0) {
      const scores = await scorer.score(
        unscored.map((i) => ({ prompt: batch[i].text, response: gens[i]!.text })),
        { signal: this.options.signal },
      );
      if (scores.length !== unscored.length) throw new Error(`scorer ${scorer.id} returned ${scores.length} scores for ${unscored.length} answers`);
      unscored.forEach((i, j) => {
        if (!Number.isFinite(scores[j])) throw new Error(`scorer ${scorer.id} returned a non-finite reward (${scores[j]}) for prompt ${batch[i].id}`);
        rewards[i] = scores[j];
        this.cache.putScore(keys[i], scorer.id, scores[j]);
      });
      this.scored += unscored.length;
    }
    // Persist before the results count as done: a crash after this line regenerates nothing.
    await this.cache.flush();
    return batch.map((p, i) => {
      const o: Observation = { promptId: p.id, reward: rewards[i]!, tokens: gens[i]!.tokens };
      const finish = gens[i]!.finishReason;
      if (finish !== undefined) o.truncated = finish === "length";
      return o;
    });
  }

  private async model(alpha: number): Promise<MaterializedModel> {
    const key = alphaKey(alpha);
    const index = this.models.findIndex((m) => m.alpha === key);
    if (index >= 0) {
      const [entry] = this.models.splice(index, 1);
      this.models.push(entry);
      return entry.model;
    }
    const keep = Math.max(1, this.options.keepModels ?? 1);
    while (this.models.length >= keep) await this.models.shift()!.model.release?.();
    this.options.onEvent?.({ kind: "materialize", alpha });
    const model = await this.options.materializer.materialize(alpha);
    this.modelLoads++;
    this.models.push({ alpha: key, model });
    return model;
  }
}
