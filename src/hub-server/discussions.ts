/**
 * Discussions: list (newest first, `?p=` pages of 50, author/status/type filters), create,
 * details with events, comment, status — the REST endpoints huggingface_hub's HfApi calls.
 * A repo with discussions turned off answers 403 with the Hub's wording.
 */
import { randomBytes } from "node:crypto";
import { escapeHtml, HttpError, readJson, sendJson, type Ctx } from "./http.js";
import type { HubCore } from "./core.js";
import type { Discussion, RepoState } from "./store.js";

/** The Hub's answer on a repo whose community tab is off (checked by src/hub/errors.ts). */
export const DISCUSSIONS_DISABLED_MESSAGE = "Discussions are disabled for this repo";

function summary(repo: RepoState, d: Discussion): Record<string, unknown> {
  return {
    num: d.num,
    title: d.title,
    status: d.status,
    isPullRequest: d.isPullRequest,
    createdAt: d.createdAt,
    author: { name: d.author, type: "user" },
    repo: { name: repo.id, type: "model" },
    numComments: d.events.length,
    pinned: false,
    topReactions: [],
  };
}

function eventJson(e: Discussion["events"][number]): Record<string, unknown> {
  return {
    id: e.id,
    type: e.type,
    createdAt: e.createdAt,
    author: { name: e.author, type: "user" },
    data: { edited: false, hidden: false, numEdits: 0, latest: { raw: e.content, html: escapeHtml(e.content), updatedAt: e.createdAt, author: { name: e.author } } },
  };
}

function findDiscussion(repo: RepoState, num: string): Discussion {
  const d = repo.discussions.find((x) => String(x.num) === num);
  if (!d) throw new HttpError(404, "Discussion not found");
  return d;
}

export async function handleDiscussions(core: HubCore, ctx: Ctx, repo: RepoState, rest: string[]): Promise<void> {
  const method = ctx.req.method;
  const q = ctx.url.searchParams;
  if (repo.discussionsDisabled) throw new HttpError(403, DISCUSSIONS_DISABLED_MESSAGE);
  if (rest.length === 0 && method === "GET") {
    const page = Math.max(0, Number(q.get("p") ?? 0) || 0);
    const author = q.get("author");
    const status = q.get("status");
    const type = q.get("type");
    const all = [...repo.discussions]
      .reverse()
      .filter((d) => (!author || d.author === author) && (!status || status === "all" || d.status === status) && (!type || type === "all" || (type === "pull_request") === d.isPullRequest));
    const pageSize = 50;
    sendJson(ctx, 200, {
      discussions: all.slice(page * pageSize, (page + 1) * pageSize).map((d) => summary(repo, d)),
      count: all.length,
      start: page * pageSize,
      numClosedDiscussions: all.filter((d) => d.status === "closed").length,
    });
    return;
  }
  if (rest.length === 0 && method === "POST") {
    const user = core.requireUser(ctx);
    const body = (await readJson(ctx.req)) as { title?: string; description?: string; pullRequest?: boolean };
    const title = (body.title ?? "").trim();
    if (title.length < 3 || title.length > 200) throw new HttpError(400, "Title must be between 3 and 200 characters");
    if (body.pullRequest) throw new HttpError(400, "Pull requests are not supported by the local Hub");
    const now = new Date().toISOString();
    const d: Discussion = { num: repo.discussions.length + 1, title, status: "open", author: user, isPullRequest: false, createdAt: now, events: [] };
    d.events.push({ id: randomBytes(12).toString("hex"), type: "comment", createdAt: now, author: user, content: body.description ?? "" });
    repo.discussions.push(d);
    core.store.save(repo);
    core.emit({ scope: "discussion", action: "create", repo, discussionNum: d.num });
    sendJson(ctx, 200, { ...summary(repo, d), url: `${ctx.base}/${repo.id}/discussions/${d.num}` });
    return;
  }
  const d = findDiscussion(repo, rest[0]!);
  if (rest.length === 1 && method === "GET") {
    sendJson(ctx, 200, { ...summary(repo, d), events: d.events.map(eventJson) });
    return;
  }
  if (rest.length === 2 && rest[1] === "comment" && method === "POST") {
    const user = core.requireUser(ctx);
    const body = (await readJson(ctx.req)) as { comment?: string };
    if (!body.comment?.trim()) throw new HttpError(400, "Comment cannot be empty");
    const event = { id: randomBytes(12).toString("hex"), type: "comment" as const, createdAt: new Date().toISOString(), author: user, content: body.comment };
    d.events.push(event);
    core.store.save(repo);
    core.emit({ scope: "discussion.comment", action: "create", repo, discussionNum: d.num, commentId: event.id });
    sendJson(ctx, 200, { newMessage: eventJson(event) });
    return;
  }
  if (rest.length === 2 && rest[1] === "status" && method === "POST") {
    core.requireUser(ctx);
    const body = (await readJson(ctx.req)) as { status?: string };
    if (body.status !== "open" && body.status !== "closed") throw new HttpError(400, "Status must be open or closed");
    d.status = body.status;
    core.store.save(repo);
    core.emit({ scope: "discussion", action: "update", repo, discussionNum: d.num });
    sendJson(ctx, 200, { newStatus: { status: d.status } });
    return;
  }
  throw new HttpError(404, "Not found");
}
