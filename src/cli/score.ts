/**
 * `expo-bot score --reward-model DIR --prompt TEXT --response TEXT`: the reward of a
 * response with a sequence-classification reward model on the embedded ONNX Runtime
 * backend; `--dump-logits FILE` writes the per-token head outputs as a float32 .npy.
 */
import { loadRewardModel } from "../inference/index.js";
import { encodeNpyFloat32 } from "../inference/npy.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { intOption, parseTokenIds } from "./generate.js";
import { parseCommandArgs } from "../util/args.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { resolveModelArg } from "./model-ref.js";

const HELP = `Usage: expo-bot score --reward-model DIR --prompt TEXT --response TEXT [options]

Scores responses with a Llama / Mistral / Qwen2 / Qwen3 ForSequenceClassification reward model from
a safetensors folder or Hub id owner/name[@revision], on ONNX Runtime (CPU). The user prompt and assistant response are
rendered with the reward model's chat template; the score is read at the last non-padding
token, as transformers does.

Options:
  --reward-model M          reward model folder or Hub id owner/name[@revision]
  --prompt TEXT             the user prompt (one, or one per --response)
  --response TEXT           a response to score (repeatable)
  --threads N               ONNX Runtime intra-op threads
  --dump-logits FILE        write the head's outputs [seq, num_labels] for every position of
                            --token-ids (or of the first pair's tokens) as a float32 .npy
  --token-ids JSON|@FILE    token ids for --dump-logits
  --json                    print JSON lines { prompt, response, score, tokens }
  --hub-url URL             Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  -h, --help                this help

${EXIT_CODES_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    argv,
    options: {
      "reward-model": { type: "string" },
      "hub-url": { type: "string" },
      prompt: { type: "string", multiple: true },
      response: { type: "string", multiple: true },
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
  if (!values["reward-model"]) throw new UserError("--reward-model is required (a folder or a Hub id owner/name[@revision])");
  const prompts = values.prompt ?? [];
  const responses = values.response ?? [];
  if (responses.length > 0 && prompts.length !== 1 && prompts.length !== responses.length) {
    throw new UserError(`give one --prompt, or one per --response (got ${prompts.length} prompts, ${responses.length} responses)`);
  }
  if (responses.length === 0 && !values["dump-logits"]) throw new UserError("give --prompt and at least one --response (or --dump-logits with --token-ids)");
  const pairs = responses.map((response, i) => ({ prompt: prompts.length === 1 ? prompts[0] : prompts[i], response }));
  const threads = values.threads === undefined ? undefined : intOption(values.threads, "--threads", 1, 1);

  const { dir } = await resolveModelArg({ value: values["reward-model"], flag: "--reward-model", hubUrl: values["hub-url"], progress: true });
  const rm = await loadRewardModel(dir, { threads });
  try {
    if (values["dump-logits"]) {
      const ids = values["token-ids"] !== undefined ? await parseTokenIds(values["token-ids"]) : pairs.length ? await rm.encodePair(pairs[0]) : null;
      if (!ids) throw new UserError("--dump-logits needs --token-ids or a --prompt/--response pair");
      if (ids.some((id) => id >= rm.info.spec.vocab)) throw new UserError(`--token-ids: ids must be below the vocabulary size ${rm.info.spec.vocab}`);
      const { values: logits, dims } = await rm.logits(ids);
      await writeFileAtomic(values["dump-logits"], encodeNpyFloat32(logits, dims));
      console.error(`wrote per-token scores [${dims.join(", ")}] float32 to ${values["dump-logits"]}`);
      if (values.json && pairs.length === 0) console.log(JSON.stringify({ dumpLogits: values["dump-logits"], shape: dims, tokenIds: ids }));
      if (pairs.length === 0) return 0;
    }
    const tokens = await Promise.all(pairs.map((p) => rm.encodePair(p)));
    const scores = await rm.score(pairs);
    for (const [i, s] of scores.entries()) {
      if (values.json) console.log(JSON.stringify({ prompt: pairs[i].prompt, response: pairs[i].response, score: s, tokens: tokens[i].length }));
      else console.log(s.toFixed(6));
    }
    return EXIT.ok;
  } finally {
    await rm.close();
  }
}
