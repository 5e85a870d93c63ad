/** The local Hub's public types: options, the admin API, request records, webhook deliveries. */
import type { Discussion, RepoState } from "./store.js";

/**
 * Ways huggingface.co answers that a kinder server would not, each on by default so that the
 * project's client meets them in every test. Turn one off only to isolate a test from it.
 */
export interface RealHubBehaviours {
  /** gzip or br on JSON and text answers when `Accept-Encoding` allows; `Content-Length` is the compressed size. */
  compression: boolean;
  /** `resolve` of an LFS file answers 302 to a signed URL on a second local host (the "CDN"), which serves ranges. */
  cdnRedirects: boolean;
  /** A renamed repo's old name answers 307 to the new one (API, resolve, LFS batch). */
  renameRedirects: boolean;
  /** LFS objects bigger than `multipartChunkSize` are uploaded in parts (the Hub's "multipart" transfer). */
  multipartUploads: boolean;
}

export interface LocalHubOptions {
  /** Folder for blobs and repo state; a temporary folder (removed on close) when omitted. */
  dir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Files at least this big are stored with LFS even without an LFS suffix. Default 10 MB. */
  lfsThreshold?: number;
  /** Entries per page of tree listings (the Hub uses 1000 on the first page). */
  treePageSize?: number;
  /** Entries per page of model listings. */
  modelsPageSize?: number;
  /** Who sees private repos: any token (default), or only the owner and approved users. */
  privateAccess?: "any-token" | "owner";
  /** Real-Hub behaviours (all on by default); `false` turns them all off. */
  realHub?: Partial<RealHubBehaviours> | false;
  /** Part size of multipart LFS uploads (default 8 MiB); objects above it are sent in parts. */
  multipartChunkSize?: number;
}

export interface FaultSpec {
  /** Matches the request path (without query): a string prefix match, or a RegExp. */
  path: string | RegExp;
  method?: string;
  /** How many matching requests the fault applies to (default 1). */
  count?: number;
  /** Answer with this status (429, 500, 502, 503…) instead of handling the request. */
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer the status only after this many milliseconds (a slow failure: requests made beside it finish first). */
  delayMs?: number;
  /** Handle the request normally but cut the body after this many bytes and close the
   * connection; counts only against responses whose body is longer than this. */
  truncateAfter?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** "cdn" for a request made straight to the CDN host (not by following a redirect). */
  host?: "hub" | "cdn";
  /**
   * The Hub answered 302 to the CDN host. When the client followed it, `status` and `bytes`
   * are those of the CDN's answer: one record per request the client made.
   */
  redirected?: boolean;
  range?: string;
  status: number;
  user?: string;
  /** Body bytes sent (compressed bytes when compressed). */
  bytes: number;
  /** Content-Encoding of the answer, when compressed. */
  encoding?: string;
  /** For an LFS batch: the transfers the client offered (e.g. basic, multipart, xet). */
  transfers?: string[];
}

export interface CreateRepoInput {
  private?: boolean;
  gated?: false | "auto" | "manual";
  /** Initial files (path → content). Written as one commit after the initial `.gitattributes`. */
  files?: Record<string, Uint8Array | string>;
  author?: string;
  /** Tags added on top of those the card implies. */
  tags?: string[];
  discussionsDisabled?: boolean;
}

/** Webhook scopes as the Hub names them; a hook subscribed to `repo` also gets `repo.content` and `repo.config`. */
export type WebhookScope = "repo" | "repo.content" | "repo.config" | "discussion" | "discussion.comment";

export interface LocalHubAdmin {
  createRepo(id: string, input?: CreateRepoInput): { sha: string };
  /** Commits files (null deletes) to a branch (default main); returns the new commit sha. */
  commit(id: string, files: Record<string, Uint8Array | string | null>, options?: { title?: string; branch?: string; author?: string }): string;
  /** Renames (moves) a repo; its old name then answers 307 to the new one. */
  renameRepo(from: string, to: string): void;
  /** Creates or moves a branch to a commit. */
  setBranch(id: string, branch: string, sha: string): void;
  setTags(id: string, tags: string[]): void;
  setGated(id: string, gated: false | "auto" | "manual", approvedUsers?: string[]): void;
  setPrivate(id: string, value: boolean): void;
  setDiscussionsDisabled(id: string, value: boolean): void;
  addToken(token: string, user: string): void;
  injectFault(fault: FaultSpec): void;
  /**
   * Registers a webhook. The server POSTs the Hub's documented payload (version 3) with the
   * `X-Webhook-Secret` header for every event in `scopes` (default: `repo` and `discussion`,
   * i.e. everything): commits (`repo.content`/update), repo creation and renames (`repo`),
   * settings (`repo.config`), discussions and comments. `repo.headSha` is main's head, as on
   * the Hub. Returns the webhook id.
   */
  addWebhook(hook: { url: string; secret?: string; scopes?: WebhookScope[] }): string;
  /** Resolves when every webhook delivery started so far has been answered. */
  webhooksSettled(): Promise<WebhookDelivery[]>;
  clearFaults(): void;
  repo(id: string): RepoState | undefined;
  discussions(id: string): Discussion[];
  /** Every request served, in order (the CDN host's with `host: "cdn"`). */
  readonly requests: RequestRecord[];
  clearRequests(): void;
}

export interface WebhookDelivery {
  webhookId: string;
  repo: string;
  /** `repo.content`, `repo`, `discussion`… and the action. */
  scope: string;
  action: string;
  headSha: string;
  /** HTTP status of the receiver, or 0 when it could not be reached. */
  status: number;
}

export interface LocalHub {
  /** Base URL to pass as `hubUrl`, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** Base URL of the CDN host LFS downloads are redirected to. */
  cdnUrl: string;
  dir: string;
  admin: LocalHubAdmin;
  close(): Promise<void>;
}
