/**
 * The guard `extrapolate` and `search` run before spending anything: the same pair check as
 * `expo-bot check` (on local folders: headers and a sample of tensors, well under a second
 * for 7B models). "refuse" stops the command with exit 3 unless --ignore-check is given;
 * "warn" prints its reasons and goes on.
 */
import { checkPair } from "../expo/verdict/check.js";
import { UserError } from "../util/errors.js";
import { EXIT } from "./exit-codes.js";

export const IGNORE_CHECK_FLAG = "--ignore-check";

export interface PreCheckParams {
  command: string;
  sft: string;
  aligned: string;
  /** Hub ids of the folders, when known (to compare θ1's card lineage). */
  sftId?: string;
  alignedId?: string;
  ignore: boolean;
  quiet: boolean;
}

export async function preCheck(params: PreCheckParams): Promise<void> {
  const v = await checkPair({ sft: params.sft, aligned: params.aligned, sftId: params.sftId, alignedId: params.alignedId });
  const lines = (level: string) => v.reasons.filter((r) => r.level === level).map((r) => `  - ${r.message}`);
  if (v.verdict === "refuse") {
    const text = `the pair check refuses this pair (as \`expo-bot check\` would):\n${lines("refuse").join("\n")}`;
    if (!params.ignore) throw new UserError(`${text}\nNothing was computed. Pass ${IGNORE_CHECK_FLAG} to run anyway.`, { exitCode: EXIT.refused });
    console.error(`expo-bot ${params.command}: warning: ${text}\n(continuing: ${IGNORE_CHECK_FLAG})`);
  } else if (v.verdict === "warn" && !params.quiet) {
    console.error(`expo-bot ${params.command}: check: warn\n${lines("warn").join("\n")}`);
  }
}
