/**
 * The bot's one discussion per θ1 repo on the Hub: found again by (bot author, fixed title)
 * rather than opened anew, carrying received → result | refused | failed.
 *
 * Where the repo has discussions turned off, nothing is thrown: the result says so, so the
 * caller can report it where the request came from (the GitHub issue, the bot's log).
 */
import { getDiscussion, getTokenUser, HubDiscussionsDisabledError, postToThread, findDiscussion, type HubClient } from "../hub/index.js";
import { parseCommentMarker } from "./comments.js";

/** The title of the bot's thread on every θ1 repo. Changing it orphans existing threads. */
export const BOT_DISCUSSION_TITLE = "ExPO Bot: model extrapolation report";

export type PostCommentResult =
  | { posted: true; discussion: { num: number; url: string }; createdThread: boolean }
  | { posted: false; reason: "duplicate"; discussion: { num: number; url: string } }
  | { posted: false; reason: "discussions-disabled"; message: string };

export interface PostCommentParams {
  client: HubClient;
  /** The θ1 repo, `owner/name`. */
  repo: string;
  /** Markdown from a render*Comment function. */
  comment: string;
  /** The bot's Hub user name; default: the token's user. */
  author?: string;
  title?: string;
  /**
   * Skip the post when the thread already has a comment with the same hidden marker
   * (kind + request id): redelivered webhooks and retried jobs do not comment twice.
   * Only applies to comments whose marker carries a request id. Default true.
   */
  dedupe?: boolean;
}

/** The message to show where the request came from when discussions are off. */
export function discussionsDisabledMessage(repo: string): string {
  return `${repo} has discussions disabled on the Hub, so ExPO Bot could not report there; the report is posted here instead.`;
}

/** Whether the bot's thread on `repo` has a comment by the bot containing `marker` (false when there is no thread or discussions are off). */
export async function hasBotComment(params: { client: HubClient; repo: string; marker: string; author?: string; title?: string }): Promise<boolean> {
  const { client, repo } = params;
  try {
    const author = params.author ?? (await getTokenUser({ client })).name;
    const existing = await findDiscussion({ client, repo, author, title: params.title ?? BOT_DISCUSSION_TITLE });
    if (!existing) return false;
    const thread = await getDiscussion({ client, repo, num: existing.num });
    return thread.comments.some((c) => c.author === author && c.content.includes(params.marker));
  } catch (err) {
    if (err instanceof HubDiscussionsDisabledError) return false;
    throw err;
  }
}

export async function postBotComment(params: PostCommentParams): Promise<PostCommentResult> {
  const { client, repo, comment } = params;
  const title = params.title ?? BOT_DISCUSSION_TITLE;
  try {
    const author = params.author ?? (await getTokenUser({ client })).name;
    const marker = parseCommentMarker(comment);
    // Listed once per post: the thread found here is the one postToThread comments on.
    let existing: Awaited<ReturnType<typeof findDiscussion>> | undefined;
    if ((params.dedupe ?? true) && marker?.requestId) {
      existing = await findDiscussion({ client, repo, author, title });
      if (existing) {
        const thread = await getDiscussion({ client, repo, num: existing.num });
        const duplicate = thread.comments.some((c) => {
          const m = c.author === author ? parseCommentMarker(c.content) : null;
          return m?.kind === marker.kind && m.requestId === marker.requestId;
        });
        if (duplicate) return { posted: false, reason: "duplicate", discussion: { num: existing.num, url: existing.url } };
      }
    }
    const out = await postToThread({ client, repo, author, title, comment, existing });
    return { posted: true, discussion: { num: out.discussion.num, url: out.discussion.url }, createdThread: out.created };
  } catch (err) {
    if (err instanceof HubDiscussionsDisabledError) {
      return { posted: false, reason: "discussions-disabled", message: discussionsDisabledMessage(repo) };
    }
    throw err;
  }
}
