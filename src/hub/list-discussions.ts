/** Listing a model's discussions (all pages). */
import type { HubClient } from "./client.js";
import { discussionsRequest, discussionsUrl, toSummary, type ApiDiscussion, type DiscussionSummary } from "./discussion-types.js";

export async function listDiscussions(params: { client: HubClient; repo: string; author?: string; status?: "open" | "closed" | "all"; maxPages?: number }): Promise<DiscussionSummary[]> {
  const { client, repo } = params;
  const out: DiscussionSummary[] = [];
  const maxPages = params.maxPages ?? 50;
  for (let page = 0; page < maxPages; page++) {
    const q = new URLSearchParams({ p: String(page) });
    if (params.author) q.set("author", params.author);
    if (params.status) q.set("status", params.status);
    const body = await discussionsRequest<{ discussions: ApiDiscussion[]; count: number; start: number }>(client, discussionsUrl(client, repo, `?${q}`), { op: "list discussions", repo }, { method: "GET" });
    for (const d of body.discussions ?? []) out.push(toSummary(client, repo, d));
    if (!body.discussions?.length || body.start + body.discussions.length >= body.count) break;
  }
  return out;
}
