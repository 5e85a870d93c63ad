/** Opening a discussion on a model (the bot's report thread). */
import type { HubClient } from "./client.js";
import { HubAuthError } from "./errors.js";
import { discussionsRequest, discussionsUrl, toSummary, type ApiDiscussion, type DiscussionSummary } from "./discussion-types.js";

/** Title 3–200 characters; `description` (Markdown) becomes the first comment. */
export async function createDiscussion(params: { client: HubClient; repo: string; title: string; description: string }): Promise<DiscussionSummary> {
  const { client, repo } = params;
  if (!client.hasToken) throw new HubAuthError(`create discussion: ${repo}: a Hub token is needed`, { ctx: { op: "create discussion", repo } });
  const body = await discussionsRequest<ApiDiscussion>(client, discussionsUrl(client, repo), { op: "create discussion", repo }, { method: "POST", body: { title: params.title.trim(), description: params.description, pullRequest: false } });
  return toSummary(client, repo, { ...body, title: body.title ?? params.title.trim(), status: body.status ?? "open", isPullRequest: false, createdAt: body.createdAt ?? new Date().toISOString() });
}
