/** Listing models by tag / author / name (the bot's tag poller uses it for `expo`). */
import { listModels } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { toHubError } from "./errors.js";

export interface ListedModel {
  repo: string;
  sha: string | undefined;
  tags: string[];
  private: boolean;
  gated: false | "auto" | "manual";
  lastModified: Date;
}

/**
 * Models carrying every one of `tags` (the Hub's `filter=` is an AND), optionally by author
 * or name substring, up to `limit` (default 1000), following pagination.
 */
export async function listModelsByTag(params: { client: HubClient; tags: string[]; author?: string; search?: string; limit?: number; sort?: "lastModified" | "createdAt" }): Promise<ListedModel[]> {
  const { client } = params;
  const out: ListedModel[] = [];
  try {
    for await (const m of listModels({
      ...client.credentials(),
      search: { tags: params.tags, owner: params.author, query: params.search },
      additionalFields: ["tags", "sha"],
      limit: params.limit ?? 1000,
      sort: params.sort,
    })) {
      out.push({ repo: m.name, sha: m.sha, tags: m.tags ?? [], private: m.private, gated: m.gated, lastModified: m.updatedAt });
    }
  } catch (err) {
    throw toHubError(err, { op: `list models tagged ${params.tags.join(", ")}` }, client.errorHeaders);
  }
  return out;
}
