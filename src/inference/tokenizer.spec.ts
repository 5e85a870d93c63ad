/** Tokenizer + chat template from a model folder, as transformers' apply_chat_template renders it. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../synthetic/tiny-model.js";
import { ModelTokenizer } from "./tokenizer.js";

const root = await mkdtemp(join(tmpdir(), "expo-tok-"));
let tok: ModelTokenizer;
beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "m"), hiddenSize: 32 });
  tok = await ModelTokenizer.load(join(root, "m"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("ModelTokenizer", () => {
  it("renders prompts with the generation prompt and conversations for reward models without it", () => {
    expect(tok.render("hi", true)).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    const pair = tok.encodeConversation("hi", "hello there");
    expect(tok.decode(pair, false)).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello there<|im_end|>\n");
    // Special tokens are single ids (rendered text is tokenized without adding specials again).
    expect(pair[0]).toBe(tok.tokenId("<|im_start|>"));
    expect(tok.decode(pair, true)).toBe("user\nhi\nassistant\nhello there\n");
  });

  it("reads eos and pad ids from the folder", () => {
    expect(tok.eosIds).toContain(tok.tokenId("<|im_end|>"));
    expect(tok.padId).toBe(tok.tokenId("<|endoftext|>"));
  });

  it("falls back to raw text without a template, and refuses conversations then", async () => {
    const dir = join(root, "base");
    await writeTinyModel({ dir, hiddenSize: 32, withChatTemplate: false });
    const base = await ModelTokenizer.load(dir);
    expect(base.hasChatTemplate).toBe(false);
    expect(base.decode(base.encodePrompt("the cat"))).toBe("the cat");
    expect(() => base.encodePrompt([{ role: "user", content: "x" }])).toThrow(/chat template/);
  });

  it("reads a template from chat_template.jinja when tokenizer_config.json has none", async () => {
    const dir = join(root, "jinja");
    await writeTinyModel({ dir, hiddenSize: 32, withChatTemplate: false });
    await writeFile(join(dir, "chat_template.jinja"), "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}");
    const t = await ModelTokenizer.load(dir);
    expect(t.render("hi", true)).toBe("[user] hi\n[assistant] ");
    expect(JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")).chat_template).toBeUndefined();
  });
});
