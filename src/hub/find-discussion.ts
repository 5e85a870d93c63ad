/** Finding the bot's own thread on a model, so reports go to one discussion, not many. */
import type { HubClient } from "./client.js";
import type { DiscussionSummary } from "./discussion-types.js";
import { listDiscussions } from "./list-discussions.js";
import { createDiscussion } from "./create-discussion.js";
import { commentDiscussion } from "./comment-discussion.js";

/** The newest discussion by `author` whose title equals `title` (trimmed), open ones first; or null. */
export async function findDiscussion(params: { client: HubClient; repo: string; author: string; title: string }): Promise<DiscussionSummary | null> {
  const all = await listDiscussions({ client: params.client, repo: params.repo, author: params.author, status: "all" });
  const title = params.title.trim();
  const mine = all.filter((d) => d.author === params.author && d.title.trim() === title && !d.isPullRequest);
  mine.sort((a, b) => (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) || b.num - a.num);
  return mine[0] ?? null;
}

/**
 * Posts `comment` to the author's thread with this title, creating the thread (with the
 * comment as its description) when there is none. Returns the thread and whether it was new.
 */
export async function postToThread(params: {
  client: HubClient;
  repo: string;
  author: string;
  title: string;
  comment: string;
  /** The thread as a findDiscussion just found it (null: none), so one post lists discussions once. */
  existing?: DiscussionSummary | null;
}): Promise<{ discussion: DiscussionSummary; created: boolean }> {
  const existing = params.existing !== undefined ? params.existing : await findDiscussion(params);
  if (existing) {
    await commentDiscussion({ client: params.client, repo: params.repo, num: existing.num, comment: params.comment });
    return { discussion: existing, created: false };
  }
  const discussion = await createDiscussion({ client: params.client, repo: params.repo, title: params.title, description: params.comment });
  return { discussion, created: true };
}
