/**
 * `expo-bot check --sft A --aligned B`: is this pair mode-connected, so that ExPO can
 * extrapolate it? A and B are local model folders or Hub ids (owner/name[@revision]).
 * Thin parsing over checkPair (src/expo/verdict/); see docs/check.md.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isHubOffline, looksLikeRepoRef } from "../hub/index.js";
import { resolveModelArg } from "./model-ref.js";
import { checkPair } from "../expo/verdict/check.js";
import { formatVerdict } from "../expo/verdict/format.js";
import { flagName, parseThresholdsJson, THRESHOLD_KEYS, type Thresholds } from "../expo/verdict/thresholds.js";
import { HubError, prefixHubError } from "../hub/errors.js";
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { EXIT as EXIT_CODES, EXIT_CODES_HELP } from "./exit-codes.js";

/** The verdicts' exit codes, from the one table of src/cli/exit-codes.ts. */
export const EXIT = { pass: EXIT_CODES.ok, warn: EXIT_CODES.ok, refuse: EXIT_CODES.refused, badInput: EXIT_CODES.badInput, unreachable: EXIT_CODES.unreachable } as const;

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
  --base DIR|OWNER/NAME     the base θ0 and θ1 may share, to tell a child of θ0 from a sibling
                            (default: the one parent θ1's card names, when it is not θ0; "none": skip)
  --json                    print the verdict as JSON (schema expo-bot/verdict@1)
  --thresholds FILE         JSON object overriding thresholds (see docs/check.md)
${THRESHOLD_KEYS.map((k) => `  --${flagName(k)} N`).join("\n")}
                            override one threshold (after --thresholds)
  --hub-url URL             Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  -h, --help                this help

The Hub token is read from $HF_TOKEN (needed for gated or private repos); HF_HUB_OFFLINE=1
reads Hub ids from the model cache instead (exit 4 when a model is not cached).

${EXIT_CODES_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const thresholdOptions = Object.fromEntries(THRESHOLD_KEYS.map((k) => [flagName(k), { type: "string" as const }]));
  const { values } = parseCommandArgs({
    argv,
    options: {
      sft: { type: "string" },
      aligned: { type: "string" },
      "sft-id": { type: "string" },
      "aligned-id": { type: "string" },
      base: { type: "string" },
      json: { type: "boolean" },
      thresholds: { type: "string" },
      "hub-url": { type: "string" },
      help: { type: "boolean", short: "h" },
      ...thresholdOptions,
    },
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
  // Online, Hub ids are checked by range reads (kilobytes); with HF_HUB_OFFLINE=1 they are
  // read from the model cache instead (a HubOfflineError, exit 4, when not cached).
  const offline = isHubOffline();
  const side = async (value: string, flag: string, id: string | undefined) => {
    if (!offline || existsSync(value) || !looksLikeRepoRef(value)) return { ref: value, id };
    const m = await resolveModelArg({ value, flag, hubUrl: values["hub-url"] });
    return { ref: m.dir, id: id ?? m.hub?.repo };
  };
  // A LoRA adapter θ1 names its base: --sft may then be left out.
  const sft = values.sft ? await side(values.sft, "--sft", values["sft-id"]) : undefined;
  const aligned = await side(values.aligned, "--aligned", values["aligned-id"]);
  let verdict;
  try {
    verdict = await checkPair({
      sft: sft?.ref,
      aligned: aligned.ref,
      sftId: sft?.id,
      alignedId: aligned.id,
      base: values.base === "none" ? false : values.base,
      thresholds: overrides as Partial<Thresholds>,
      hub: { hubUrl: values["hub-url"], token },
    });
  } catch (err) {
    if (err instanceof HubError) throw prefixHubError(err, "could not read a model: ");
    throw err;
  }
  if (values.json) console.log(JSON.stringify(verdict, null, 2));
  else console.log(formatVerdict(verdict));
  if (verdict.verdict === "warn" && values.json) {
    for (const r of verdict.reasons.filter((x) => x.level === "warn")) console.error(`expo-bot check: warning: ${r.message}`);
  }
  return EXIT[verdict.verdict];
}
