/**
 * `expo-bot check --sft A --aligned B`: is this pair mode-connected, so that ExPO can
 * extrapolate it? A and B are local model folders or Hub ids (owner/name[@revision]).
 * Thin parsing over checkPair (src/expo/verdict/); see docs/check.md.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { checkPair } from "../expo/verdict/check.js";
import { formatVerdict } from "../expo/verdict/format.js";
import { flagName, parseThresholdsJson, THRESHOLD_KEYS, type Thresholds } from "../expo/verdict/thresholds.js";
import { HubError } from "../hub/errors.js";
import { UserError } from "../util/errors.js";

/** Exit codes; documented in docs/check.md. */
export const EXIT = { pass: 0, warn: 0, refuse: 3, badInput: 2, unreachable: 4 } as const;

const HELP = `Usage: expo-bot check --sft A --aligned B [options]

Checks, before any GPU time, that θ1 (--aligned, the DPO/RLHF model) was trained from θ0
(--sft, its SFT checkpoint), so that ExPO's θ2 = θ1 + α(θ1 − θ0) makes sense: lineage from
θ1's card, architecture and tokenizer, tensor headers, and weight statistics on a sample
of tensors read by range requests (≈0.05 % of the checkpoint). Prints pass, warn or refuse
with every reason.

A and B are local model folders or Hub ids owner/name[@revision] (an existing folder wins).

Options:
  --sft A                   θ0, the SFT checkpoint (for a PEFT LoRA adapter θ1, default: the
                            base model the adapter names)
  --aligned B               θ1, the model aligned from θ0, or a PEFT LoRA adapter on θ0
  --sft-id OWNER/NAME       θ0's Hub id when --sft is a folder (to compare θ1's card)
  --aligned-id OWNER/NAME   θ1's Hub id when --aligned is a folder
  --json                    print the verdict as JSON (schema expo-bot/verdict@1)
  --thresholds FILE         JSON object overriding thresholds (see docs/check.md)
${THRESHOLD_KEYS.map((k) => `  --${flagName(k)} N`).join("\n")}
                            override one threshold (after --thresholds)
  --hub-url URL             Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  -h, --help                this help

The Hub token is read from $HF_TOKEN (needed for gated or private repos).
Exit codes: 0 pass or warn (warnings printed), 3 refuse, 2 bad input,
4 a model could not be reached (not found, gated, no access, rate-limited), 1 internal error.`;

export async function run(argv: string[]): Promise<number> {
  const thresholdOptions = Object.fromEntries(THRESHOLD_KEYS.map((k) => [flagName(k), { type: "string" as const }]));
  const { values } = parseArgs({
    args: argv,
    options: {
      sft: { type: "string" },
      aligned: { type: "string" },
      "sft-id": { type: "string" },
      "aligned-id": { type: "string" },
      json: { type: "boolean" },
      thresholds: { type: "string" },
      "hub-url": { type: "string" },
      help: { type: "boolean", short: "h" },
      ...thresholdOptions,
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.aligned) throw new UserError(`--aligned is required\n\n${HELP}`);
  const v = values as Record<string, string | boolean | undefined>;
  let overrides: Partial<Record<keyof Thresholds, unknown>> = {};
  if (typeof v.thresholds === "string") {
    let text: string;
    try {
      text = await readFile(v.thresholds, "utf8");
    } catch (err) {
      throw new UserError(`--thresholds ${v.thresholds}: ${(err as Error).message}`);
    }
    overrides = parseThresholdsJson(text, v.thresholds);
  }
  for (const k of THRESHOLD_KEYS) {
    const flag = v[flagName(k)];
    if (typeof flag === "string") overrides[k] = flag;
  }
  const token = process.env.HF_TOKEN?.trim() || undefined;
  let verdict;
  try {
    verdict = await checkPair({
      sft: values.sft || undefined,
      aligned: values.aligned,
      sftId: values["sft-id"],
      alignedId: values["aligned-id"],
      thresholds: overrides as Partial<Thresholds>,
      hub: { hubUrl: values["hub-url"], token },
    });
  } catch (err) {
    if (err instanceof HubError) {
      console.error(`expo-bot check: could not read a model: ${err.message}`);
      return EXIT.unreachable;
    }
    throw err;
  }
  if (values.json) console.log(JSON.stringify(verdict, null, 2));
  else console.log(formatVerdict(verdict));
  if (verdict.verdict === "warn" && values.json) {
    for (const r of verdict.reasons.filter((x) => x.level === "warn")) console.error(`expo-bot check: warning: ${r.message}`);
  }
  return EXIT[verdict.verdict];
}
