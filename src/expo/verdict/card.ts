/**
 * Model card metadata: the YAML front matter of README.md, read defensively (a card comes
 * from anyone on the Hub). Only the fields the verdict uses are extracted.
 */
import { parse } from "yaml";

export interface CardInfo {
  /** The card had a front matter block that parsed. */
  present: boolean;
  /** Why the front matter could not be read, if it could not. */
  error: string | null;
  /** `base_model` as a list (a string becomes one element). */
  baseModels: string[];
  baseModelRelation: string | null;
  tags: string[];
  /** Parents named by `expo-parent:OWNER/NAME` tags. */
  expoParents: string[];
  pipelineTag: string | null;
  /** The markdown after the front matter (for base-model hints). */
  body: string;
}

const MAX_FRONT_MATTER = 256 * 1024;

export function parseCard(text: string | null): CardInfo {
  const empty: CardInfo = { present: false, error: null, baseModels: [], baseModelRelation: null, tags: [], expoParents: [], pipelineTag: null, body: text ?? "" };
  if (text === null) return empty;
  const normalized = text.replace(/^\uFEFF/, "").replace(/\r\n/g, "\n");
  const match = /^---\n([\s\S]*?)\n---[ \t]*(?:\n|$)/.exec(normalized);
  if (!match) return empty;
  const body = normalized.slice(match[0].length);
  if (match[1].length > MAX_FRONT_MATTER) return { ...empty, body, error: `front matter is ${match[1].length} bytes, over the ${MAX_FRONT_MATTER}-byte limit` };
  let data: unknown;
  try {
    // maxAliasCount guards against alias bombs ("billion laughs").
    data = parse(match[1], { maxAliasCount: 100, uniqueKeys: false });
  } catch (err) {
    return { ...empty, body, error: `front matter is not valid YAML (${(err as Error).message.split("\n")[0]})` };
  }
  if (data === null || data === undefined) return { ...empty, body, present: true };
  if (typeof data !== "object" || Array.isArray(data)) return { ...empty, body, error: "front matter is not a YAML mapping" };
  return cardFromMetadata(data as Record<string, unknown>, body);
}

/** The same extraction from already-parsed card metadata (the Hub API's `cardData`). */
export function cardFromMetadata(meta: Record<string, unknown>, body = ""): CardInfo {
  const strings = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const baseModels = strings(meta.base_model).map((s) => s.trim()).filter(Boolean);
  const tags = strings(meta.tags).map((s) => s.trim()).filter(Boolean);
  const expoParents = tags.filter((t) => t.toLowerCase().startsWith("expo-parent:")).map((t) => t.slice("expo-parent:".length).trim()).filter(Boolean);
  return {
    present: true,
    error: null,
    baseModels,
    baseModelRelation: typeof meta.base_model_relation === "string" ? meta.base_model_relation : null,
    tags,
    expoParents,
    pipelineTag: typeof meta.pipeline_tag === "string" ? meta.pipeline_tag : null,
    body,
  };
}

/** Hub ids compare case-insensitively, without a revision or a trailing slash. */
export function sameRepoId(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().replace(/@.*$/, "").replace(/\/+$/, "").replace(/^(?:https?:\/\/huggingface\.co\/)/i, "").toLowerCase();
  return norm(a) === norm(b);
}
