/**
 * Webhooks: the Hub's version-3 payload (huggingface_hub `_webhooks_payload.py`: event, repo,
 * discussion, comment, movedTo, updatedRefs, webhook) POSTed with `X-Webhook-Secret` to every
 * hook whose scopes cover the event. As on the Hub, `repo.headSha` is the head of `main` —
 * not of the branch a commit went to — and a hook subscribed to `repo` also receives the
 * `repo.content` and `repo.config` sub-scopes (likewise `discussion` and `discussion.comment`).
 */
import { createHash } from "node:crypto";
import type { HubCore, HubEvent } from "./core.js";
import type { WebhookDelivery, WebhookScope } from "./types.js";

interface Hook {
  id: string;
  url: string;
  secret?: string;
  scopes: WebhookScope[];
}

const objectId = (s: string) => createHash("sha1").update(s).digest("hex").slice(0, 24);

export class Webhooks {
  private readonly hooks: Hook[] = [];
  private readonly deliveries: Array<Promise<WebhookDelivery>> = [];

  constructor(
    private readonly core: HubCore,
    private readonly hubUrl: () => string,
  ) {
    core.onEvent((event) => this.deliver(event));
  }

  add(hook: { url: string; secret?: string; scopes?: WebhookScope[] }): string {
    const id = objectId(`${hook.url}#${this.hooks.length}`);
    this.hooks.push({ id, url: hook.url, secret: hook.secret, scopes: hook.scopes ?? ["repo", "discussion"] });
    return id;
  }

  settled(): Promise<WebhookDelivery[]> {
    return Promise.all(this.deliveries);
  }

  payload(event: HubEvent, hook: Hook): Record<string, unknown> {
    const { repo } = event;
    const url = this.hubUrl();
    const mainHead = repo.branches.main ?? null;
    const commit = mainHead ? repo.commits[mainHead] : undefined;
    const out: Record<string, unknown> = {
      event: { action: event.action, scope: event.scope },
      repo: {
        type: "model",
        name: repo.id,
        id: objectId(repo.internalId),
        private: repo.private,
        url: { web: `${url}/${repo.id}`, api: `${url}/api/models/${repo.id}` },
        headSha: mainHead,
        tags: commit ? this.core.tagsOf(repo, commit) : [],
        owner: { id: objectId(repo.id.split("/")[0]!) },
      },
      webhook: { id: hook.id, version: 3 },
    };
    if (event.updatedRef) out.updatedRefs = [{ ref: `refs/heads/${event.updatedRef.branch}`, oldSha: event.updatedRef.oldSha, newSha: event.updatedRef.newSha }];
    if (event.movedFrom) {
      // The Hub names the repo as it was and says where it went.
      (out.repo as Record<string, unknown>).name = event.movedFrom;
      out.movedTo = { name: repo.id, owner: { id: objectId(repo.id.split("/")[0]!) } };
    }
    const d = event.discussionNum !== undefined ? repo.discussions.find((x) => x.num === event.discussionNum) : undefined;
    if (d) {
      out.discussion = {
        id: objectId(`${repo.internalId}#${d.num}`),
        num: d.num,
        title: d.title,
        status: d.status,
        isPullRequest: d.isPullRequest,
        author: { id: objectId(d.author) },
        url: { web: `${url}/${repo.id}/discussions/${d.num}`, api: `${url}/api/models/${repo.id}/discussions/${d.num}` },
      };
      const c = event.commentId ? d.events.find((e) => e.id === event.commentId) : undefined;
      if (c) out.comment = { id: c.id, author: { id: objectId(c.author) }, content: c.content, hidden: false, url: { web: `${url}/${repo.id}/discussions/${d.num}#${c.id}` } };
    }
    return out;
  }

  private deliver(event: HubEvent): void {
    for (const hook of this.hooks) {
      if (!hook.scopes.some((s) => event.scope === s || event.scope.startsWith(`${s}.`))) continue;
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (hook.secret !== undefined) headers["x-webhook-secret"] = hook.secret;
      const base = { webhookId: hook.id, repo: event.repo.id, scope: event.scope, action: event.action, headSha: event.repo.branches.main ?? "" };
      this.deliveries.push(
        fetch(hook.url, { method: "POST", headers, body: JSON.stringify(this.payload(event, hook)) }).then(
          async (res) => {
            await res.arrayBuffer().catch(() => undefined);
            return { ...base, status: res.status };
          },
          () => ({ ...base, status: 0 }),
        ),
      );
    }
  }
}
