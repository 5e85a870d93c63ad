/** Parsing model references of the form `owner/name` or `owner/name@revision`. */
import { UserError } from "../util/errors.js";

export interface RepoRef {
  /** `owner/name`. */
  repo: string;
  /** Branch, tag or commit sha; undefined means the default branch (`main`). */
  revision?: string;
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/**
 * Parses `owner/name[@revision]`. Throws a UserError naming the input when it is not a
 * Hub model id (one slash, each part letters, digits, `.`, `_`, `-`, no `..`).
 */
export function parseRepoRef(text: string): RepoRef {
  const input = text.trim();
  const at = input.indexOf("@");
  const id = at === -1 ? input : input.slice(0, at);
  const revision = at === -1 ? undefined : input.slice(at + 1);
  const parts = id.split("/");
  if (parts.length !== 2 || !parts.every((p) => PART.test(p)) || id.includes("..")) {
    throw new UserError(`"${text}" is not a Hub model id: expected owner/name or owner/name@revision`);
  }
  if (revision !== undefined && (revision === "" || /\s|\.\.|^\/|\/$/.test(revision))) {
    throw new UserError(`"${text}": invalid revision "${revision}" after "@"`);
  }
  return revision === undefined ? { repo: id } : { repo: id, revision };
}

/** Whether a string looks like a Hub id rather than a local path (`./x`, `/abs`, `x/y/z`). */
export function looksLikeRepoRef(text: string): boolean {
  try {
    parseRepoRef(text);
    return !text.startsWith(".") && !text.startsWith("/");
  } catch {
    return false;
  }
}

export function formatRepoRef(ref: RepoRef): string {
  return ref.revision ? `${ref.repo}@${ref.revision}` : ref.repo;
}
