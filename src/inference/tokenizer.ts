/**
 * The tokenizer and chat template of a model folder: tokenizer.json + tokenizer_config.json
 * through @huggingface/tokenizers, the Jinja chat template (tokenizer_config.json's
 * `chat_template`, or chat_template.jinja / chat_template.json) through @huggingface/jinja,
 * rendered as transformers' `apply_chat_template` does (the special-token strings in scope,
 * tokenized without adding special tokens again).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../util/errors.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

/** A prompt: raw text (the chat template is applied to it as one user turn) or a conversation. */
export type Prompt = string | ChatMessage[];

export class ModelTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template | null,
    private readonly specials: Record<string, string | null>,
    /** Ids that end generation: generation_config / config / tokenizer eos. */
    readonly eosIds: number[],
    readonly padId: number | null,
  ) {}

  /**
   * `base`: `dir` is a LoRA adapter folder on this model: each file is the adapter's when it
   * ships one, else the base's, and config.json is the base's (what `extrapolate --merge` writes).
   */
  static async load(dir: string, base?: string): Promise<ModelTokenizer> {
    const path = async (file: string): Promise<string> => {
      if (base === undefined) return join(dir, file);
      if (file !== "config.json" && (await stat(join(dir, file)).then(() => true, () => false))) return join(dir, file);
      return join(base, file);
    };
    const tokenizerJson = await readJson(await path("tokenizer.json"), true);
    const tokenizerConfig = ((await readJson(await path("tokenizer_config.json"), false)) ?? {}) as Record<string, unknown>;
    const config = ((await readJson(await path("config.json"), false)) ?? {}) as Record<string, unknown>;
    const generationConfig = ((await readJson(await path("generation_config.json"), false)) ?? {}) as Record<string, unknown>;
    const tokenizer = new Tokenizer(tokenizerJson as object, tokenizerConfig);

    let templateText: string | null = null;
    const ct = tokenizerConfig.chat_template;
    if (typeof ct === "string") templateText = ct;
    else if (Array.isArray(ct)) templateText = (ct.find((t) => t?.name === "default") ?? ct[0])?.template ?? null;
    if (templateText === null) templateText = await readText(await path("chat_template.jinja"));
    if (templateText === null) {
      const j = (await readJson(await path("chat_template.json"), false)) as { chat_template?: string } | null;
      templateText = j?.chat_template ?? null;
    }
    let template: Template | null = null;
    if (templateText !== null) {
      try {
        template = new Template(templateText);
      } catch (err) {
        throw new UserError(`${dir}: the chat template does not parse: ${(err as Error).message}`);
      }
    }

    const tokenString = (v: unknown): string | null => (typeof v === "string" ? v : v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : null);
    const specials: Record<string, string | null> = {};
    for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) specials[key] = tokenString(tokenizerConfig[key]);

    const ids = new Set<number>();
    for (const v of [generationConfig.eos_token_id, config.eos_token_id]) {
      for (const id of Array.isArray(v) ? v : [v]) if (typeof id === "number") ids.add(id);
    }
    if (specials.eos_token) {
      const id = tokenizer.token_to_id(specials.eos_token);
      if (id !== undefined) ids.add(id);
    }
    let padId: number | null = typeof config.pad_token_id === "number" ? config.pad_token_id : null;
    if (padId === null && specials.pad_token) padId = tokenizer.token_to_id(specials.pad_token) ?? null;
    if (padId === null && typeof generationConfig.pad_token_id === "number") padId = generationConfig.pad_token_id;
    return new ModelTokenizer(tokenizer, template, specials, [...ids], padId);
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  /** The conversation rendered by the chat template (a raw string prompt becomes one user turn). */
  render(prompt: Prompt, addGenerationPrompt: boolean): string {
    const messages = typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt;
    if (!this.template) throw new UserError("the model folder has no chat template (tokenizer_config.json chat_template); pass raw text with chatTemplate: false");
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.specials.bos_token ?? "",
      eos_token: this.specials.eos_token ?? "",
      pad_token: this.specials.pad_token ?? "",
      unk_token: this.specials.unk_token ?? "",
    });
  }

  /**
   * Token ids of a prompt. With `chatTemplate` (the default when the folder has one) the
   * template is applied with the generation prompt and the text tokenized without adding
   * special tokens (the template writes them); raw text gets the tokenizer's own specials.
   */
  encodePrompt(prompt: Prompt, chatTemplate = this.hasChatTemplate): number[] {
    if (chatTemplate) return this.tokenizer.encode(this.render(prompt, true), { add_special_tokens: false }).ids;
    if (typeof prompt !== "string") throw new UserError("a conversation needs a chat template, and this model folder has none");
    return this.tokenizer.encode(prompt).ids;
  }

  /** A prompt + response pair as the reward model sees it: a user turn and an assistant turn. */
  encodeConversation(prompt: Prompt, response: string): number[] {
    const messages: ChatMessage[] = [...(typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt), { role: "assistant", content: response }];
    if (!this.template) {
      // No template: plain concatenation, the best a base reward model can do.
      const text = messages.map((m) => m.content).join("\n");
      return this.tokenizer.encode(text).ids;
    }
    return this.tokenizer.encode(this.render(messages, false), { add_special_tokens: false }).ids;
  }

  encode(text: string, addSpecialTokens = false): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: skipSpecialTokens });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  const text = await readText(path);
  if (text === null) {
    if (required) throw new UserError(`${path}: not found (embedded inference needs a tokenizer.json)`);
    return null;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message})`);
  }
}
