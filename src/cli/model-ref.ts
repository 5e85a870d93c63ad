/**
 * The model arguments of every command (`--sft`, `--aligned`, `--model`, `--reward-model`):
 * a local folder, or a Hub id `owner/name[@revision]` downloaded once to the cache under
 * $HF_HOME (src/hub/model-cache.ts), like `from_pretrained`. An existing folder wins over a
 * Hub id of the same spelling. HF_TOKEN, HF_ENDPOINT (or --hub-url) and HF_HUB_OFFLINE apply.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { cachedModel, createHubClient, looksLikeRepoRef, parseRepoRef } from "../hub/index.js";
import { HubError, prefixHubError } from "../hub/errors.js";
import { UserError } from "../util/errors.js";

export interface ModelArg {
  /** The local folder to read. */
  dir: string;
  /** Set when the argument was a Hub id: the repo and the commit it resolved to. */
  hub?: { repo: string; revision: string };
}

export interface ResolveModelArgParams {
  /** The flag's value. */
  value: string | undefined;
  /** The flag, for messages: "--sft". */
  flag: string;
  hubUrl?: string;
  /** Download progress on stderr. */
  progress?: boolean;
}

export async function resolveModelArg(params: ResolveModelArgParams): Promise<ModelArg> {
  const { value, flag } = params;
  if (!value) throw new UserError(`${flag} is required (a model folder or a Hub id owner/name[@revision])`);
  const s = await stat(value).catch(() => null);
  if (s?.isDirectory()) return { dir: resolve(value) };
  if (s) throw new UserError(`${flag} ${value}: is a file; expected a model folder (or a Hub id owner/name[@revision])`);
  if (!looksLikeRepoRef(value)) throw new UserError(`${flag} ${value}: no such folder, and not a Hub id owner/name[@revision]`);
  const ref = parseRepoRef(value);
  const client = createHubClient({ token: process.env.HF_TOKEN?.trim() || undefined, hubUrl: params.hubUrl || process.env.HF_ENDPOINT || undefined });
  try {
    const m = await cachedModel({ client, ref, showProgress: params.progress, log: (line) => console.error(`note: ${line}`) });
    return { dir: m.dir, hub: { repo: m.repo, revision: m.commit } };
  } catch (err) {
    throw err instanceof HubError ? prefixHubError(err, `${flag} ${value}: `) : err;
  }
}
