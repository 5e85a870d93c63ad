/**
 * Signs that θ0 is a pretrained base model rather than an SFT model. The paper (§4.3,
 * Fig. 8) found that extrapolating Base → SFT degrades the model: SFT does not optimise for
 * human preference, so Δθ is not an alignment direction. Each sign alone is weak; any of
 * them warns, and the reason lists all that were found.
 */
import type { CardInfo } from "./card.js";
import type { Reason } from "./types.js";

export interface BaseHintInput {
  /** θ0's id or folder name. */
  label: string;
  card: CardInfo;
  tokenizerConfig: Record<string, unknown> | null;
  /** A chat template file exists beside the tokenizer (chat_template.jinja / .json). */
  hasChatTemplateFile: boolean;
  config: Record<string, unknown> | null;
}

const BASE_WORD = /(^|[^a-z0-9])(base|pretrained|pre-trained|foundation)([^a-z0-9]|$)/i;
const CHAT_WORD = /(^|[^a-z0-9])(instruct|chat|sft|it|rlhf|dpo|assistant)([^a-z0-9]|$)/i;
const BASE_TAGS = new Set(["base", "base-model", "pretrained", "pre-trained", "foundation-model"]);

export function baseModelHints(input: BaseHintInput): Reason[] {
  const hints: string[] = [];
  const template = input.tokenizerConfig?.chat_template;
  const hasTemplate = (typeof template === "string" && template.trim() !== "") || (Array.isArray(template) && template.length > 0) || input.hasChatTemplateFile;
  if (!hasTemplate) hints.push("it has no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja)");
  const name = input.label.split("/").pop() ?? input.label;
  if (BASE_WORD.test(name) && !CHAT_WORD.test(name)) hints.push(`its name "${name}" says base/pretrained`);
  const baseTags = input.card.tags.filter((t) => BASE_TAGS.has(t.toLowerCase()));
  if (baseTags.length > 0) hints.push(`its card is tagged ${baseTags.join(", ")}`);
  const nameOrPath = input.config?._name_or_path;
  if (typeof nameOrPath === "string" && BASE_WORD.test(nameOrPath.split("/").pop() ?? "") && !CHAT_WORD.test(nameOrPath)) hints.push(`its config's _name_or_path is "${nameOrPath}"`);
  if (hints.length === 0) {
    return [{ level: "info", code: "sft-looks-like-sft", message: "θ0 looks like a chat/SFT model (it has a chat template and no base-model hints).", numbers: { hints: 0 } }];
  }
  return [
    {
      level: "warn",
      code: "sft-looks-like-base",
      message: `θ0 may be a pretrained base model rather than an SFT model: ${hints.join("; ")}. ExPO needs θ0 to be the SFT checkpoint θ1 was aligned from; the paper found that extrapolating from a base model to an SFT model makes it worse.`,
      numbers: { hints: hints.length, chatTemplate: hasTemplate },
    },
  ];
}
