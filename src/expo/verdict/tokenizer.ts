/**
 * Tokenizer compatibility from tokenizer.json: the id → token map of the model vocabulary
 * plus `added_tokens`. θ1 is compatible when every id of θ0 means the same token in θ1
 * (identical, or θ1 only added tokens at ids θ0 did not use); otherwise the rows of the
 * embedding matrices mean different things and extrapolating them mixes unrelated tokens.
 */
import { createHash } from "node:crypto";
import type { Reason } from "./types.js";

export interface TokenizerVocab {
  ids: Map<number, string>;
  /** Hash of the merges (BPE), so two vocabularies with different merges are told apart. */
  mergesHash: string | null;
  modelType: string | null;
}

/** Parses tokenizer.json text; throws an Error with a plain reason when it is not usable. */
export function parseTokenizerVocab(text: string): TokenizerVocab {
  const raw = JSON.parse(text) as unknown;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error("tokenizer.json is not a JSON object");
  const { model, added_tokens } = raw as { model?: unknown; added_tokens?: unknown };
  const ids = new Map<number, string>();
  let mergesHash: string | null = null;
  let modelType: string | null = null;
  if (model !== null && typeof model === "object" && !Array.isArray(model)) {
    const m = model as { type?: unknown; vocab?: unknown; merges?: unknown };
    modelType = typeof m.type === "string" ? m.type : null;
    if (Array.isArray(m.vocab)) {
      // Unigram: [[piece, score], …]; the id is the index.
      m.vocab.forEach((entry, i) => {
        if (Array.isArray(entry) && typeof entry[0] === "string") ids.set(i, entry[0]);
      });
    } else if (m.vocab !== null && typeof m.vocab === "object") {
      for (const [token, id] of Object.entries(m.vocab as Record<string, unknown>)) {
        if (Number.isSafeInteger(id)) ids.set(id as number, token);
      }
    }
    if (Array.isArray(m.merges)) mergesHash = createHash("sha256").update(JSON.stringify(m.merges)).digest("hex").slice(0, 16);
  }
  if (Array.isArray(added_tokens)) {
    for (const t of added_tokens) {
      if (t && typeof t === "object" && Number.isSafeInteger((t as { id?: unknown }).id) && typeof (t as { content?: unknown }).content === "string") {
        ids.set((t as { id: number }).id, (t as { content: string }).content);
      }
    }
  }
  if (ids.size === 0) throw new Error("tokenizer.json has no vocabulary");
  return { ids, mergesHash, modelType };
}

export function compareTokenizers(t0: string | null, t1: string | null): Reason[] {
  if (t0 === null || t1 === null) {
    const missing = t0 === null && t1 === null ? "either model" : t0 === null ? "θ0" : "θ1";
    return [{ level: "warn", code: "tokenizer-unknown", message: `No tokenizer.json in ${missing}, so the vocabularies could not be compared; make sure θ1 uses θ0's tokenizer.`, numbers: {} }];
  }
  let v0: TokenizerVocab, v1: TokenizerVocab;
  try {
    v0 = parseTokenizerVocab(t0);
  } catch (err) {
    return [{ level: "warn", code: "tokenizer-unreadable", message: `θ0's tokenizer.json could not be read (${(err as Error).message}); the vocabularies were not compared.`, numbers: {} }];
  }
  try {
    v1 = parseTokenizerVocab(t1);
  } catch (err) {
    return [{ level: "warn", code: "tokenizer-unreadable", message: `θ1's tokenizer.json could not be read (${(err as Error).message}); the vocabularies were not compared.`, numbers: {} }];
  }
  const changed: string[] = [];
  let changedCount = 0;
  let missingCount = 0;
  for (const [id, token] of v0.ids) {
    const other = v1.ids.get(id);
    if (other === token) continue;
    if (other === undefined) missingCount++;
    else changedCount++;
    if (changed.length < 5) changed.push(other === undefined ? `id ${id} ${JSON.stringify(token)} is missing in θ1` : `id ${id} is ${JSON.stringify(token)} in θ0 but ${JSON.stringify(other)} in θ1`);
  }
  const numbers = { sftTokens: v0.ids.size, alignedTokens: v1.ids.size, changed: changedCount, missing: missingCount };
  if (changedCount + missingCount > 0) {
    return [
      {
        level: "refuse",
        code: "tokenizer-mismatch",
        message: `The tokenizers disagree on ${changedCount + missingCount} of θ0's ${v0.ids.size} token ids (${changed.join("; ")}${changedCount + missingCount > changed.length ? "; …" : ""}). Embedding rows would mix different tokens, so θ1 was not fine-tuned from θ0 with its tokenizer.`,
        numbers,
      },
    ];
  }
  const reasons: Reason[] = [];
  const added = v1.ids.size - v0.ids.size;
  if (v0.mergesHash !== v1.mergesHash || v0.modelType !== v1.modelType) {
    reasons.push({ level: "warn", code: "tokenizer-merges-differ", message: `The tokenizers share θ0's ${v0.ids.size} token ids but their ${v0.modelType !== v1.modelType ? `models (${v0.modelType} vs ${v1.modelType})` : "merge rules"} differ, so the same text may be split differently.`, numbers });
  }
  if (added > 0) {
    const newTokens = [...v1.ids].filter(([id]) => !v0.ids.has(id)).slice(0, 5).map(([, t]) => JSON.stringify(t));
    reasons.push({ level: "info", code: "tokenizer-appended", message: `θ1's tokenizer is θ0's plus ${added} appended token${added > 1 ? "s" : ""} (${newTokens.join(", ")}${added > 5 ? ", …" : ""}); θ0's ${v0.ids.size} ids are unchanged.`, numbers });
  } else if (reasons.length === 0) {
    reasons.push({ level: "info", code: "tokenizer-identical", message: `The tokenizers have the same ${v0.ids.size} tokens with the same ids.`, numbers });
  }
  return reasons;
}
