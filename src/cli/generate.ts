/**
 * `expo-bot generate --model DIR --prompt TEXT [...]`: generate with the embedded ONNX Runtime
 * backend; `--dump-logits FILE` writes the logits of a token sequence as a float32 .npy.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadCausalLM, type SamplingOptions } from "../inference/index.js";
import { encodeNpyFloat32 } from "../inference/npy.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { parseCommandArgs } from "../util/args.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { resolveModelArg } from "./model-ref.js";

const HELP = `Usage: expo-bot generate --model DIR --prompt TEXT [options]

Generates with a Llama / Mistral / Qwen2 / Qwen3 causal LM from a safetensors folder, on ONNX
Runtime (CPU). Prompts get the model's chat template as a user turn. Sampling defaults come
from the model's generation_config.json, as in transformers (do_sample false → greedy;
temperature, top_k, top_p, max_new_tokens); flags override them.

Options:
  --model M                 model folder (config.json, *.safetensors, tokenizer.json) or Hub
                            id owner/name[@revision] (downloaded once to the cache)
  --prompt TEXT             a prompt (repeat for a batch)
  --max-new-tokens N        most tokens to generate (default: generation_config's, else 128)
  --temperature T           0 = greedy (default: generation_config's, else 1)
  --top-k K                 keep the K most likely tokens (default: generation_config's, else off)
  --top-p P                 nucleus sampling (default: generation_config's, else 1 = off)
  --presence-penalty X      OpenAI-style presence penalty (default 0)
  --frequency-penalty X     OpenAI-style frequency penalty (default 0)
  --stop TEXT               stop string (repeatable)
  --seed N                  random seed (default 0): same seed, same output
  --greedy                  arg-max decoding (same as --temperature 0)
  --raw                     do not apply the chat template
  --no-cache                recompute the whole sequence each step (slow; for checks)
  --threads N               ONNX Runtime intra-op threads
  --dump-logits FILE        write the logits [seq, vocab] of --token-ids (or of the first
                            prompt's tokens) as a float32 .npy, then exit unless prompts remain
  --token-ids JSON|@FILE    token ids for --dump-logits, e.g. '[1, 2, 3]' or @ids.json
  --json                    print JSON (one object per prompt) instead of text
  --hub-url URL             Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  -h, --help                this help

${EXIT_CODES_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    argv,
    options: {
      model: { type: "string" },
      "hub-url": { type: "string" },
      prompt: { type: "string", multiple: true },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "presence-penalty": { type: "string" },
      "frequency-penalty": { type: "string" },
      stop: { type: "string", multiple: true },
      seed: { type: "string" },
      greedy: { type: "boolean" },
      raw: { type: "boolean" },
      "no-cache": { type: "boolean" },
      threads: { type: "string" },
      "dump-logits": { type: "string" },
      "token-ids": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!values.model) throw new UserError("--model is required (a model folder or a Hub id owner/name[@revision])");
  const prompts = values.prompt ?? [];
  if (prompts.length === 0 && !values["dump-logits"]) throw new UserError("give at least one --prompt (or --dump-logits with --token-ids)");
  const model = await resolveModelArg({ value: values.model, flag: "--model", hubUrl: values["hub-url"], progress: true });
  const defaults = await generationDefaults(model.dir);
  const sampling: SamplingOptions = {
    maxNewTokens: intOption(values["max-new-tokens"], "--max-new-tokens", defaults.maxNewTokens ?? 128, 1),
    temperature: numberOption(values.temperature, "--temperature", defaults.temperature ?? 1, 0),
    topK: intOption(values["top-k"], "--top-k", defaults.topK ?? 0, 0),
    topP: numberOption(values["top-p"], "--top-p", defaults.topP ?? 1, 0, 1),
    presencePenalty: numberOption(values["presence-penalty"], "--presence-penalty", 0),
    frequencyPenalty: numberOption(values["frequency-penalty"], "--frequency-penalty", 0),
    stop: values.stop,
    seed: intOption(values.seed, "--seed", 0, 0),
    greedy: values.greedy ?? (values.temperature === undefined && defaults.greedy === true),
    useCache: !values["no-cache"],
    chatTemplate: values.raw ? false : undefined,
  };
  const threads = values.threads === undefined ? undefined : intOption(values.threads, "--threads", 1, 1);

  const lm = await loadCausalLM(model.dir, { threads });
  try {
    if (values["dump-logits"]) {
      const ids = values["token-ids"] !== undefined ? await parseTokenIds(values["token-ids"]) : prompts.length ? await lm.encode(prompts[0], sampling.chatTemplate) : null;
      if (!ids) throw new UserError("--dump-logits needs --token-ids or a --prompt");
      if (ids.some((id) => id >= lm.info.spec.vocab)) throw new UserError(`--token-ids: ids must be below the vocabulary size ${lm.info.spec.vocab}`);
      const { values: logits, dims } = await lm.logits(ids);
      await writeFileAtomic(values["dump-logits"], encodeNpyFloat32(logits, dims));
      console.error(`wrote logits [${dims.join(", ")}] float32 to ${values["dump-logits"]}`);
      if (values.json && prompts.length === 0) console.log(JSON.stringify({ dumpLogits: values["dump-logits"], shape: dims, tokenIds: ids }));
      if (prompts.length === 0) return 0;
    }
    const results = await lm.generate(prompts, sampling);
    if (values.json) {
      for (const [i, r] of results.entries()) console.log(JSON.stringify({ prompt: prompts[i], text: r.text, tokenIds: r.tokenIds, promptTokens: r.promptTokenIds.length, finishReason: r.finishReason }));
    } else {
      for (const [i, r] of results.entries()) {
        if (results.length > 1) console.log(`--- ${i + 1}/${results.length}`);
        console.log(r.text);
      }
    }
    return EXIT.ok;
  } finally {
    await lm.close();
  }
}

export interface GenerationDefaults {
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** do_sample is false (or absent: transformers' default) in a generation_config.json. */
  greedy?: boolean;
}

/**
 * The sampling defaults of a model folder's generation_config.json, read the way
 * transformers' GenerationConfig does: without `do_sample: true` decoding is greedy and the
 * sampling fields are ignored. No file: no defaults.
 */
export async function generationDefaults(dir: string): Promise<GenerationDefaults> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(join(dir, "generation_config.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
  const num = (k: string) => (typeof raw[k] === "number" && Number.isFinite(raw[k]) ? (raw[k] as number) : undefined);
  const out: GenerationDefaults = {};
  const maxNew = num("max_new_tokens");
  if (maxNew !== undefined && Number.isInteger(maxNew) && maxNew >= 1) out.maxNewTokens = maxNew;
  if (raw.do_sample !== true) return { ...out, greedy: true };
  const t = num("temperature"), k = num("top_k"), p = num("top_p");
  if (t !== undefined && t >= 0) out.temperature = t;
  if (k !== undefined && Number.isInteger(k) && k >= 0) out.topK = k;
  if (p !== undefined && p > 0 && p <= 1) out.topP = p;
  return out;
}

export async function parseTokenIds(text: string): Promise<number[]> {
  const source = text.startsWith("@") ? await readFile(text.slice(1), "utf8").catch((err) => {
    throw new UserError(`--token-ids ${text}: ${(err as Error).message}`);
  }) : text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    throw new UserError(`--token-ids: not a JSON array of integers: ${source.slice(0, 80)}`);
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && Array.isArray((parsed as { token_ids?: unknown }).token_ids)) parsed = (parsed as { token_ids: unknown }).token_ids;
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((v) => Number.isSafeInteger(v) && v >= 0)) {
    throw new UserError("--token-ids: expected a non-empty JSON array of non-negative integers");
  }
  return parsed as number[];
}

export function numberOption(text: string | undefined, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) throw new UserError(`${name}: expected a number${min > -Infinity ? ` ≥ ${min}` : ""}${max < Infinity ? ` ≤ ${max}` : ""}, got "${text}"`);
  return v;
}

export function intOption(text: string | undefined, name: string, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min) throw new UserError(`${name}: expected an integer ≥ ${min}, got "${text}"`);
  return v;
}
