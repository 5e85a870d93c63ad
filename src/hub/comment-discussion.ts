/** Commenting on a discussion, and reading one with its comments. */
import type { HubClient } from "./client.js";
import { HubAuthError } from "./errors.js";
import { discussionsRequest, discussionsUrl, toComment, toSummary, type ApiDiscussion, type ApiEvent, type DiscussionComment, type DiscussionSummary } from "./discussion-types.js";

export async function commentDiscussion(params: { client: HubClient; repo: string; num: number; comment: string }): Promise<DiscussionComment> {
  const { client, repo, num } = params;
  if (!client.hasToken) throw new HubAuthError(`comment on discussion: ${repo}#${num}: a Hub token is needed`, { ctx: { op: "comment on discussion", repo } });
  const body = await discussionsRequest<{ newMessage: ApiEvent }>(client, discussionsUrl(client, repo, `/${num}/comment`), { op: `comment on discussion #${num}`, repo }, { method: "POST", body: { comment: params.comment } });
  return toComment(body.newMessage);
}

export async function getDiscussion(params: { client: HubClient; repo: string; num: number }): Promise<DiscussionSummary & { comments: DiscussionComment[] }> {
  const { client, repo, num } = params;
  const body = await discussionsRequest<ApiDiscussion>(client, discussionsUrl(client, repo, `/${num}`), { op: `read discussion #${num}`, repo }, { method: "GET" });
  return { ...toSummary(client, repo, body), comments: (body.events ?? []).filter((e) => e.type === "comment").map(toComment) };
}
