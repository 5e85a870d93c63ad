/**
 * What every route family of the local Hub shares: the store, the resolved options, who the
 * caller is and what they may see, revision resolution, and the tags the Hub derives from a
 * card. Route modules (repos, files, uploads, discussions) take it as their first argument.
 */
import { createHash } from "node:crypto";
import { HttpError, type ActiveFault, type Ctx } from "./http.js";
import type { Commit, HubStore, RepoState } from "./store.js";
import type { RealHubBehaviours, RequestRecord } from "./types.js";

export interface HubSettings {
  treePageSize: number;
  modelsPageSize: number;
  privateAccess: "any-token" | "owner";
  realHub: RealHubBehaviours;
  multipartChunkSize: number;
}

/** A webhook-worthy change, turned into the Hub's payload by webhooks.ts. */
export interface HubEvent {
  scope: "repo" | "repo.content" | "repo.config" | "discussion" | "discussion.comment";
  action: "create" | "update" | "delete" | "move";
  repo: RepoState;
  /** For repo.content: the branch moved and its old/new commit. */
  updatedRef?: { branch: string; oldSha: string | null; newSha: string };
  /** For a move: the repo's old name (`repo.id` is already the new one). */
  movedFrom?: string;
  discussionNum?: number;
  commentId?: string;
}

export class HubCore {
  readonly tokens = new Map<string, string>();
  /** Set by the server once listening: base URL of the CDN host. */
  cdnUrl = "";
  /**
   * Redirects to the CDN not yet followed, by signed path: the CDN leg completes the record of
   * the `resolve` request (one record per request the client made, as the client counts them)
   * and inherits its truncation fault, so a fault on `/{repo}/resolve/` cuts the bytes wherever
   * they are served from.
   */
  readonly cdnLegs = new Map<string, { record: RequestRecord; fault?: ActiveFault }>();
  private readonly listeners: Array<(event: HubEvent) => void> = [];

  constructor(
    readonly store: HubStore,
    readonly settings: HubSettings,
  ) {}

  userOf(token: string): string {
    return this.tokens.get(token) ?? `user-${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;
  }

  onEvent(listener: (event: HubEvent) => void): void {
    this.listeners.push(listener);
  }

  emit(event: HubEvent): void {
    for (const l of this.listeners) l(event);
  }

  /**
   * The repo, or 404 as the Hub answers for a missing or invisible private repo. A renamed
   * repo's old name answers 307 to the same URL under the new name (when switched on).
   */
  getRepoOr404(id: string, ctx: Ctx): RepoState {
    const repo = this.store.get(id);
    if (!repo) {
      const movedTo = this.settings.realHub.renameRedirects ? this.store.movedTo(id) : undefined;
      if (movedTo) throw new RepoMoved(id, movedTo);
      throw new HttpError(404, "Repository not found", "RepoNotFound");
    }
    if (repo.private && !this.canSeePrivate(repo, ctx)) throw new HttpError(404, "Repository not found", "RepoNotFound");
    return repo;
  }

  canSeePrivate(repo: RepoState, ctx: Ctx): boolean {
    if (!ctx.user) return false;
    if (this.settings.privateAccess === "any-token") return true;
    return repo.id.split("/")[0] === ctx.user || repo.approved.includes(ctx.user);
  }

  checkGated(repo: RepoState, ctx: Ctx): void {
    if (!repo.gated) return;
    if (!ctx.user) {
      throw new HttpError(401, `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`, "GatedRepo");
    }
    if (repo.id.split("/")[0] !== ctx.user && !repo.approved.includes(ctx.user)) {
      throw new HttpError(403, `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit ${ctx.base}/${repo.id} to ask for access.`, "GatedRepo");
    }
  }

  requireUser(ctx: Ctx): string {
    if (!ctx.user) throw new HttpError(401, "Invalid credentials in Authorization header");
    return ctx.user;
  }

  resolveRev(repo: RepoState, rev: string): Commit {
    const commit = this.store.resolve(repo, rev);
    if (!commit) throw new HttpError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    return commit;
  }

  /** The tags the Hub shows for a repo at a commit: from the card, the files and the admin's extras. */
  tagsOf(repo: RepoState, commit: Commit, card = this.store.cardData(commit)): string[] {
    const tags: string[] = [];
    const add = (t: unknown) => {
      if (typeof t === "string" && t && !tags.includes(t)) tags.push(t);
    };
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
    if (card) {
      add(card.library_name);
      for (const t of list(card.tags)) add(t);
      if (Object.keys(commit.files).some((p) => p.endsWith(".safetensors"))) add("safetensors");
      for (const l of list(card.language)) add(l);
      for (const b of list(card.base_model)) {
        add(`base_model:${String(b)}`);
        const relation = typeof card.base_model_relation === "string" ? card.base_model_relation : "finetune";
        add(`base_model:${relation}:${String(b)}`);
      }
      if (typeof card.license === "string") add(`license:${card.license}`);
    } else if (Object.keys(commit.files).some((p) => p.endsWith(".safetensors"))) add("safetensors");
    for (const t of repo.extraTags) add(t);
    add("region:us");
    return tags;
  }
}

/** Thrown by getRepoOr404 for a renamed repo's old name; the router answers 307. */
export class RepoMoved extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`Repository ${from} was moved to ${to}`);
  }
}
