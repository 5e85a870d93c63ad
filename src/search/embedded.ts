/**
 * Embedded backends: the project's own ONNX engine (src/inference) as a Generator and a
 * Scorer.
 *
 * With `pair` (θ0 and θ1 folders; θ1 may be a LoRA adapter on θ0) the generator loads θ1
 * once, with θ0 beside it, and serves every α by switching the engine's weights in place
 * (`setAlpha`): one load for the whole search, no extrapolated or merged folder (pair it with
 * `InPlaceMaterializer`). Without it, one model
 * folder is loaded at a time and asking for another α's folder loads that folder.
 */
import { loadCausalLM, loadRewardModel, type CausalLM, type InferenceOptions, type RewardModel } from "../inference/index.js";
import type { GenerateOptions, Generation, Generator, ModelRef, Sampling, ScoreItem, Scorer } from "./types.js";

export interface EmbeddedGeneratorOptions extends InferenceOptions {
  /** Prompts per forward batch of the engine (default 8). */
  batchSize?: number;
  /** Serve θ1 + α(θ1 − θ0) in place from these folders, `aligned` a model or a LoRA adapter folder (the ModelRef's α is used, its dir ignored). */
  pair?: { sft: string; aligned: string };
}

export class EmbeddedGenerator implements Generator {
  readonly id = "embedded";
  private loaded: { dir: string; lm: CausalLM } | undefined;
  /** Model loads so far (for tests and reports). */
  loads = 0;
  /** In-place α switches so far, and their total milliseconds. */
  switches = 0;
  switchMs = 0;

  constructor(private readonly options: EmbeddedGeneratorOptions = {}) {}

  async generate(model: ModelRef, prompts: string[], sampling: Sampling, options: GenerateOptions = {}): Promise<Generation[]> {
    const pair = this.options.pair;
    const lm = await this.load(pair ? pair.aligned : model.dir);
    if (pair) {
      const sw = await lm.setAlpha(model.alpha);
      if (sw) {
        this.switches++;
        this.switchMs += sw.ms;
      }
    }
    options.signal?.throwIfAborted();
    const out = await lm.generate(prompts, {
      maxNewTokens: sampling.maxTokens,
      temperature: sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      presencePenalty: sampling.presencePenalty,
      frequencyPenalty: sampling.frequencyPenalty,
      seed: sampling.seed,
      batchSize: this.options.batchSize,
    });
    options.onDone?.(prompts.length);
    return out.map((g) => ({ text: g.text, tokens: g.tokenIds.length, finishReason: g.finishReason }));
  }

  async close(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.lm.close();
  }

  private async load(dir: string): Promise<CausalLM> {
    if (this.loaded?.dir === dir) return this.loaded.lm;
    await this.close();
    const { batchSize: _b, pair, ...load } = this.options;
    const lm = await loadCausalLM(dir, pair ? { ...load, extrapolateFrom: pair.sft } : load);
    this.loads++;
    this.loaded = { dir, lm };
    return lm;
  }
}

export class EmbeddedScorer implements Scorer {
  readonly id: string;
  private model: Promise<RewardModel> | undefined;

  /** `id` should name the reward model's revision when known (it keys the cache). */
  constructor(private readonly dir: string, private readonly options: InferenceOptions & { batchSize?: number; id?: string } = {}) {
    this.id = options.id ?? `embedded-rm:${dir}`;
  }

  async score(items: ScoreItem[]): Promise<number[]> {
    const { batchSize: _b, id: _i, ...load } = this.options;
    this.model ??= loadRewardModel(this.dir, load);
    const rm = await this.model;
    return rm.score(
      items.map((i) => ({ prompt: i.prompt, response: i.response })),
      { batchSize: this.options.batchSize },
    );
  }

  async close(): Promise<void> {
    const m = this.model;
    this.model = undefined;
    if (m) await (await m).close();
  }
}
