/**
 * Discussions on the Hub's REST API (not in @huggingface/hub), as the Hub documents them and
 * the Python `huggingface_hub` client calls them:
 *
 *   GET  /api/models/{repo}/discussions?p={page}      → { discussions, count, start }
 *   POST /api/models/{repo}/discussions               { title, description, pullRequest } → { num, … }
 *   GET  /api/models/{repo}/discussions/{num}         → details with `events`
 *   POST /api/models/{repo}/discussions/{num}/comment { comment } → { newMessage }
 *
 * A repo with discussions turned off answers 403 "Discussions are disabled for this repo",
 * which becomes HubDiscussionsDisabledError.
 */
import type { HubClient } from "./client.js";
import { apiErrorFrom, toHubError, type HubErrorContext } from "./errors.js";

export interface DiscussionSummary {
  num: number;
  title: string;
  status: string;
  author: string;
  isPullRequest: boolean;
  createdAt: Date;
  url: string;
}

export interface DiscussionComment {
  id: string;
  author: string;
  createdAt: Date;
  /** Markdown as posted. */
  content: string;
}

export interface ApiDiscussion {
  num: number;
  title: string;
  status: string;
  isPullRequest: boolean;
  createdAt: string;
  author?: { name?: string };
  events?: ApiEvent[];
}

export interface ApiEvent {
  id: string;
  type: string;
  createdAt: string;
  author?: { name?: string };
  data?: { latest?: { raw?: string } };
}

export function discussionsUrl(client: HubClient, repo: string, suffix = ""): string {
  return `${client.hubUrl}/api/models/${repo}/discussions${suffix}`;
}

export function toSummary(client: HubClient, repo: string, d: ApiDiscussion): DiscussionSummary {
  return {
    num: d.num,
    title: d.title,
    status: d.status,
    author: d.author?.name ?? "deleted",
    isPullRequest: Boolean(d.isPullRequest),
    createdAt: new Date(d.createdAt),
    url: `${client.hubUrl}/${repo}/discussions/${d.num}`,
  };
}

export function toComment(e: ApiEvent): DiscussionComment {
  return { id: e.id, author: e.author?.name ?? "deleted", createdAt: new Date(e.createdAt), content: e.data?.latest?.raw ?? "" };
}

/** One JSON request to the discussions API with the client's retries and typed errors. */
export async function discussionsRequest<T>(client: HubClient, url: string, ctx: HubErrorContext, init: { method: "GET" | "POST"; body?: unknown }): Promise<T> {
  try {
    const res = await client.fetch(url, {
      method: init.method,
      headers: { Accept: "application/json", ...client.authHeaders(), ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
    if (!res.ok) throw await apiErrorFrom(res);
    return (await res.json()) as T;
  } catch (err) {
    throw toHubError(err, ctx, client.errorHeaders);
  }
}
