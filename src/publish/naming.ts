/**
 * Output repository naming: `<namespace>/<θ1 name>-ExPO`, adjusted by licences that
 * prescribe a derivative's name, and a deterministic alternative when the name is taken by
 * a model built from other sources.
 */
import { createHash } from "node:crypto";
import { UserError } from "../util/errors.js";
import type { SourceModel } from "./types.js";

/** The Hub's limit on a repo name (the part after the slash). */
export const MAX_REPO_NAME_LENGTH = 96;
const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const REPO_ID_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\/[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Whether `value` is a well-formed Hub repo id `owner/name` (no `--`, `..`, leading/trailing punctuation). */
export function isRepoId(value: string): boolean {
  return REPO_ID_RE.test(value) && !/--|\.\./.test(value) && value.split("/")[1]!.length <= MAX_REPO_NAME_LENGTH;
}

/** Throws a UserError naming `field` unless `value` is a valid repo id. */
export function assertRepoId(value: string, field: string): string {
  if (!isRepoId(value)) {
    throw new UserError(
      `${field}: "${value.slice(0, 200)}" is not a Hub repo id (expected OWNER/NAME with letters, digits, ".", "_" or "-", name at most ${MAX_REPO_NAME_LENGTH} characters)`,
    );
  }
  return value;
}

function squash(text: string): string {
  return text.toLowerCase().replace(/[-_ .]/g, "");
}

/**
 * Applies a licence's name prefix (e.g. Llama 3.1: the name must begin with "Llama").
 * A name that already begins with it is kept; `Meta-Llama-…` loses `Meta-`; otherwise the
 * prefix is prepended with a dash.
 */
export function applyNamePrefix(name: string, prefix: string | undefined): string {
  if (!prefix) return name;
  if (squash(name).startsWith(squash(prefix))) return name;
  const withoutMeta = name.replace(/^Meta[-_]/i, "");
  if (withoutMeta !== name && squash(withoutMeta).startsWith(squash(prefix))) return withoutMeta;
  return `${prefix}-${name}`;
}

/** A short, stable hash of the two sources (ids only: a new revision of the same pair keeps its repo). */
export function sourcesHash(theta1: Pick<SourceModel, "id">, theta0: Pick<SourceModel, "id">): string {
  return createHash("sha256").update(`${theta1.id}\n${theta0.id}`).digest("hex").slice(0, 8);
}

function fit(base: string, suffix: string): string {
  const room = MAX_REPO_NAME_LENGTH - suffix.length;
  let trimmed = base.length > room ? base.slice(0, room) : base;
  trimmed = trimmed.replace(/[-_.]+$/, "");
  return `${trimmed}${suffix}`;
}

export interface NameCandidates {
  /** `<namespace>/<θ1 name>-ExPO` (licence prefix applied, shortened with the hash if too long). */
  primary: string;
  /** `<namespace>/<θ1 name>-ExPO-<hash8>`, used when the primary is taken by other sources. */
  alternate: string;
}

/**
 * The names to try for the output of (θ1, θ0), in order. `requested` (the CLI's `--repo`) is
 * used exactly as given — no "-ExPO" added — or refused (exit 3) when θ1's licence prescribes a
 * name prefix it lacks: a name the user chose is never silently changed.
 */
export function outputNames(
  namespace: string,
  theta1: Pick<SourceModel, "id">,
  theta0: Pick<SourceModel, "id">,
  options: { namePrefix?: string; requested?: string } = {},
): NameCandidates {
  const hash = sourcesHash(theta1, theta0);
  if (options.requested) {
    assertRepoId(options.requested, "--repo");
    const [owner, name] = options.requested.split("/") as [string, string];
    if (options.namePrefix && applyNamePrefix(name, options.namePrefix) !== name) {
      throw new UserError(
        `--repo ${options.requested}: θ1's licence requires derivative model names to begin with "${options.namePrefix}"; pass e.g. --repo ${owner}/${applyNamePrefix(name, options.namePrefix)}`,
        { exitCode: 3 },
      );
    }
    return { primary: options.requested, alternate: `${owner}/${fit(name, `-${hash}`)}` };
  }
  if (!NAME_RE.test(namespace)) throw new UserError(`namespace: "${namespace}" is not a Hub user or organization name`);
  const ns = namespace;
  const base = applyNamePrefix(theta1.id.split("/")[1] ?? theta1.id, options.namePrefix);
  const primaryName = `${base}-ExPO`.length <= MAX_REPO_NAME_LENGTH ? `${base}-ExPO` : fit(base, `-ExPO-${hash}`);
  const alternateName = fit(base, `-ExPO-${hash}`);
  return { primary: `${ns}/${primaryName}`, alternate: `${ns}/${alternateName}` };
}
