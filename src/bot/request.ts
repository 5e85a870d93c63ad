/**
 * Pure request logic: reading a request from a model card, from an `/expo` comment and from
 * the issue form; the request key and id.
 */
import { createHash } from "node:crypto";
import { escapeMarkdown } from "../publish/escape.js";
import type { HubModelInfo } from "./types.js";

export const REQUEST_TAG = "expo";
export const PARENT_TAG_PREFIX = "expo-parent:";
export const ALPHA_TAG_PREFIX = "expo-alpha:";

/** `owner/name` as the Hub allows it (no revision, no URL). */
const REPO_ID_RE = /^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?\/[\w.-]{1,96}$/;

export function isRepoId(text: string): boolean {
  return REPO_ID_RE.test(text) && !text.includes("..") && !text.endsWith(".git");
}

/**
 * User text quoted back in a reply (an `/expo` comment's words, an issue form's answers):
 * shortened, escaped for Markdown/HTML (no code span to break out of, no mention, link or
 * image), scrubbed of tokens.
 */
function quoted(text: string, max: number): string {
  return `“${escapeMarkdown(text.slice(0, max))}”`;
}

/** Parses a non-negative finite α; null when the text is not one. */
export function parseAlpha(text: string): number | null {
  if (!/^\d+(?:\.\d+)?$/.test(text.trim())) return null;
  const a = Number(text);
  return Number.isFinite(a) && a >= 0 && a <= 100 ? a : null;
}

function cardTags(info: HubModelInfo): string[] {
  const fromCard = Array.isArray(info.cardData?.tags) ? (info.cardData!.tags as unknown[]).filter((t): t is string => typeof t === "string") : [];
  return [...new Set([...info.tags, ...fromCard])];
}

export function isTagged(info: HubModelInfo): boolean {
  return cardTags(info).includes(REQUEST_TAG);
}

/**
 * An ExPO output repo (ours or anyone's) carries `expo` too: `base_model: [θ1, θ0]`,
 * `base_model_relation: merge`. Never treat one as a request.
 */
export function isExpoOutput(info: HubModelInfo, botNamespace?: string): boolean {
  if (botNamespace && info.id.split("/")[0] === botNamespace) return true;
  return info.cardData?.base_model_relation === "merge" && Array.isArray(info.cardData?.base_model);
}

export interface CardRequest {
  theta0: string | null;
  alpha: number | null;
  problems: string[];
}

/** θ0 and α as a tagged card states them (see DESIGN.md "Tags"). */
export function readCardRequest(info: HubModelInfo): CardRequest {
  const problems: string[] = [];
  const tags = cardTags(info);
  const parents = tags.filter((t) => t.startsWith(PARENT_TAG_PREFIX)).map((t) => t.slice(PARENT_TAG_PREFIX.length).trim());
  const alphas = tags.filter((t) => t.startsWith(ALPHA_TAG_PREFIX)).map((t) => t.slice(ALPHA_TAG_PREFIX.length).trim());
  let theta0: string | null = null;
  const base = info.cardData?.base_model;
  const baseIds = typeof base === "string" ? [base] : Array.isArray(base) ? base.filter((b): b is string => typeof b === "string") : [];
  if (parents.length > 1) problems.push(`the card has ${parents.length} \`${PARENT_TAG_PREFIX}\` tags; keep exactly one`);
  else if (parents.length === 1) {
    if (isRepoId(parents[0])) theta0 = parents[0];
    else problems.push(`\`${PARENT_TAG_PREFIX}${parents[0]}\` does not name a repo as OWNER/NAME`);
  } else if (baseIds.length === 1) {
    if (isRepoId(baseIds[0])) theta0 = baseIds[0];
    else problems.push(`\`base_model: ${baseIds[0]}\` does not name a repo as OWNER/NAME`);
  } else if (baseIds.length > 1) {
    problems.push(`\`base_model\` lists ${baseIds.length} models; name the SFT parent with the tag \`${PARENT_TAG_PREFIX}OWNER/NAME\``);
  } else {
    problems.push(`the card names no parent: set \`base_model: OWNER/NAME\` (the SFT model this one was trained from) or add the tag \`${PARENT_TAG_PREFIX}OWNER/NAME\``);
  }
  let alpha: number | null = null;
  if (alphas.length > 1) problems.push(`the card has ${alphas.length} \`${ALPHA_TAG_PREFIX}\` tags; keep at most one`);
  else if (alphas.length === 1) {
    alpha = parseAlpha(alphas[0]);
    if (alpha === null) problems.push(`\`${ALPHA_TAG_PREFIX}${alphas[0]}\` is not a number between 0 and 100`);
  }
  return { theta0, alpha, problems };
}

export interface CommandRequest {
  theta1: string;
  theta0?: string;
  alpha?: number;
}

/**
 * Finds an `/expo OWNER/NAME [parent OWNER/NAME] [alpha A]` command on its own line.
 * Returns null when there is none, or `{error}` when the command is malformed.
 */
export function parseExpoCommand(body: string | null | undefined): CommandRequest | { error: string } | null {
  if (!body) return null;
  const line = body.split(/\r?\n/).map((l) => l.trim()).find((l) => /^\/expo(\s|$)/.test(l));
  if (!line) return null;
  const words = line.split(/\s+/).slice(1);
  const usage = "usage: `/expo OWNER/NAME [parent OWNER/NAME] [alpha A]`";
  if (words.length === 0) return { error: `no model named; ${usage}` };
  const theta1 = words.shift()!;
  if (!isRepoId(theta1)) return { error: `${quoted(theta1, 200)} is not a Hub model id (OWNER/NAME); ${usage}` };
  const out: CommandRequest = { theta1 };
  while (words.length > 0) {
    const k = words.shift()!.toLowerCase();
    const v = words.shift();
    if (v === undefined) return { error: `${quoted(k, 50)} needs a value; ${usage}` };
    if (k === "parent" && out.theta0 === undefined) {
      if (!isRepoId(v)) return { error: `parent ${quoted(v, 200)} is not a Hub model id (OWNER/NAME)` };
      out.theta0 = v;
    } else if (k === "alpha" && out.alpha === undefined) {
      const a = parseAlpha(v);
      if (a === null) return { error: `alpha ${quoted(v, 50)} is not a number between 0 and 100` };
      out.alpha = a;
    } else return { error: `unexpected ${quoted(k, 50)}; ${usage}` };
  }
  return out;
}

/**
 * Reads the issue form (`.github/ISSUE_TEMPLATE/expo-request.yml`): GitHub renders each field
 * as `### <label>` followed by the answer, `_No response_` for an empty optional field.
 */
export function parseIssueForm(body: string | null | undefined): CommandRequest | { error: string } | null {
  if (!body) return null;
  const sections = new Map<string, string>();
  const parts = body.split(/^###\s+/m).slice(1);
  for (const part of parts) {
    const nl = part.indexOf("\n");
    const label = (nl < 0 ? part : part.slice(0, nl)).trim().toLowerCase();
    const value = (nl < 0 ? "" : part.slice(nl + 1)).trim();
    sections.set(label, value === "_No response_" ? "" : value);
  }
  const find = (prefix: string) => [...sections.entries()].find(([k]) => k.startsWith(prefix))?.[1] ?? "";
  const theta1 = find("aligned model");
  if (!sections.size || !theta1) return null;
  if (!isRepoId(theta1)) return { error: `${quoted(theta1, 200)} is not a Hub model id (OWNER/NAME)` };
  const out: CommandRequest = { theta1 };
  const parent = find("sft parent");
  if (parent) {
    if (!isRepoId(parent)) return { error: `parent ${quoted(parent, 200)} is not a Hub model id (OWNER/NAME)` };
    out.theta0 = parent;
  }
  const alpha = find("alpha");
  if (alpha) {
    const a = parseAlpha(alpha);
    if (a === null) return { error: `alpha ${quoted(alpha, 50)} is not a number between 0 and 100` };
    out.alpha = a;
  }
  return out;
}

/** Settings that change what the job computes; part of the key. */
export function settingsOf(alpha: number | null): Record<string, unknown> {
  return { alpha: alpha === null ? "search" : alpha };
}

/** The unique request key: θ1 repo@sha, θ0 repo@sha, settings. */
export function requestKey(p: { theta1: string; theta1Sha: string; theta0: string | null; theta0Sha: string | null; alpha: number | null }): string {
  const s = settingsOf(p.alpha);
  const settings = Object.keys(s)
    .sort()
    .map((k) => `${k}=${String(s[k])}`)
    .join(",");
  const t0 = p.theta0 ? `${p.theta0}@${p.theta0Sha ?? "?"}` : "-";
  return `${p.theta1}@${p.theta1Sha}|${t0}|${settings}`;
}

/** A short stable id for a key: `expo-` + 12 hex (used in run-name, artifact, issue titles). */
export function requestIdOf(key: string): string {
  return `expo-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** Finds a request id in a run's display title (`run-name: ExPO expo-…`). */
export function requestIdInTitle(title: string | null | undefined): string | null {
  const m = /\b(expo-[0-9a-f]{12})\b/.exec(title ?? "");
  return m ? m[1] : null;
}
