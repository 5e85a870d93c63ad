/**
 * A tiny byte-level BPE tokenizer (the GPT-2 / Llama-3 / Qwen2 family's format) for synthetic
 * models: the 256 byte tokens, a few merges of common English pairs, and ChatML special
 * tokens. Real tokenizer.json structure, so @huggingface/tokenizers loads it as it loads a
 * Hub model's.
 */

/** GPT-2's bytes_to_unicode: printable stand-ins for every byte. */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

export const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const MERGE_WORDS = ["the", "and", "ing", "er", "is", "it", "to", "of", "in", "an", "re", "on", "at", "en", "ed", "or", "es", "ou", "he", "th"];

export interface TinyTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  /** Number of ids, specials included. */
  size: number;
  eosId: number;
  padId: number;
}

/**
 * `extraTokens` appends added tokens after the specials (how a fine-tune grows a vocabulary).
 * `withChatTemplate: false` imitates a base model (no chat template).
 */
export function tinyTokenizer(options: { extraTokens?: string[]; withChatTemplate?: boolean } = {}): TinyTokenizerFiles {
  const byteChars = byteToUnicode();
  const vocab: Record<string, number> = {};
  byteChars.forEach((c, i) => (vocab[c] = i));
  const merges: string[] = [];
  // Merges of two-character pieces and their extensions: "t h" → "th", "th e" → "the".
  for (const word of MERGE_WORDS) {
    let left = word[0];
    for (let i = 1; i < word.length; i++) {
      const merged = left + word[i];
      if (!(merged in vocab)) {
        merges.push(`${left} ${word[i]}`);
        vocab[merged] = Object.keys(vocab).length;
      }
      left = merged;
    }
  }
  let next = Object.keys(vocab).length;
  const added = [...SPECIAL_TOKENS, ...(options.extraTokens ?? [])].map((content, i) => ({
    id: next + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: i < SPECIAL_TOKENS.length,
  }));
  next += added.length;
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const eos = "<|im_end|>";
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: false,
    add_eos_token: false,
    bos_token: null,
    eos_token: eos,
    pad_token: "<|endoftext|>",
    unk_token: null,
    model_max_length: 2048,
    clean_up_tokenization_spaces: false,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
  if (options.withChatTemplate !== false) tokenizerConfig.chat_template = CHATML_TEMPLATE;
  const idOf = (t: string) => added.find((a) => a.content === t)!.id;
  return {
    tokenizerJson,
    tokenizerConfig,
    specialTokensMap: { eos_token: eos, pad_token: "<|endoftext|>" },
    size: next,
    eosId: idOf(eos),
    padId: idOf("<|endoftext|>"),
  };
}
