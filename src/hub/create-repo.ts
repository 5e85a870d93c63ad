/** Creating a model repo (idempotently, for the bot's `-ExPO` outputs). */
import { createRepo } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { HubAuthError, HubConflictError, toHubError } from "./errors.js";

export interface CreateModelRepoResult {
  repo: string;
  url: string;
  /** False when it already existed and `existOk` was set. */
  created: boolean;
}

/**
 * Creates `owner/name` as a model repo. With `existOk` an existing repo is not an error
 * (the result says `created: false`). Needs a write token.
 */
export async function createModelRepo(params: { client: HubClient; repo: string; private?: boolean; license?: string; existOk?: boolean }): Promise<CreateModelRepoResult> {
  const { client, repo } = params;
  const ctx = { op: "create repo", repo };
  const creds = client.credentials();
  if (!creds.accessToken) throw new HubAuthError(`create repo: ${repo}: a Hub token with write access is needed`, { ctx });
  try {
    const out = await createRepo({ ...creds, accessToken: creds.accessToken, repo: { type: "model", name: repo }, private: params.private, license: params.license });
    return { repo, url: out.repoUrl, created: true };
  } catch (err) {
    const typed = toHubError(err, ctx, client.errorHeaders);
    if (typed instanceof HubConflictError && params.existOk) return { repo, url: `${client.hubUrl}/${repo}`, created: false };
    throw typed;
  }
}
