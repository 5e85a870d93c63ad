/**
 * A local, file-backed, Hugging Face Hub-compatible HTTP server for tests, the demo and
 * offline runs. Built on node:http only.
 *
 * Checked against @huggingface/hub 2.17.5 (node_modules/@huggingface/hub/package.json): every
 * route below is the URL, method, headers and JSON shape that version's client sends or
 * reads (src/lib/*.ts of the package), and the REST discussion endpoints follow the Hub's
 * API as the `huggingface_hub` Python client calls it. If the client is upgraded, re-read
 * its lib/ sources and the spec files in src/hub/ and src/hub-server/ will say what broke.
 *
 * Routes served (repo = `owner/name`, models only):
 *
 *   GET  /api/models/{repo}                      model info (?expand=… selects fields)
 *   GET  /api/models/{repo}/revision/{rev}       model info at a branch or commit
 *   GET  /api/models?filter=&author=&search=&limit=&expand=   list models (Link: rel="next")
 *   GET  /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=   (Link: rel="next")
 *   GET|HEAD /{repo}/resolve/{rev}/{path}        file bytes; Range → 206 + Content-Range;
 *                                                ETag, X-Repo-Commit, X-Linked-Size/-ETag (LFS)
 *   GET|HEAD /{repo}/raw/{rev}/{path}            git content (the LFS pointer for LFS files)
 *   POST /api/repos/create                        {name, organization, type, visibility|private}
 *   POST /api/models/{repo}/preupload/{rev}       → {files: [{path, uploadMode}]}
 *   POST /{repo}.git/info/lfs/objects/batch       LFS batch, "basic" transfer (upload + verify)
 *   PUT  /__lfs/upload/{oid}, POST /__lfs/verify   the upload and verify actions it hands out
 *   POST /api/models/{repo}/commit/{rev}          NDJSON: header, file, lfsFile, deletedFile
 *   GET|POST /api/models/{repo}/discussions       list (?p=N) / create {title, description}
 *   GET  /api/models/{repo}/discussions/{num}     details with events
 *   POST /api/models/{repo}/discussions/{num}/comment   {comment} → {newMessage}
 *   POST /api/models/{repo}/discussions/{num}/status    {status}
 *   GET  /api/whoami-v2
 *
 * Errors are JSON `{"error": …}` (plain text for HEAD) with the Hub's `X-Error-Code`
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and `X-Error-Message` headers.
 * Auth: any `Bearer` token is accepted and mapped to a user name (registered with
 * `admin.addToken`, else derived from the token's hash); writes need a token. A private repo
 * answers 404 without a token; a gated repo answers `resolve` with 401 (no token) or 403
 * (token not approved) and the Hub's gated message, while its model info stays readable.
 * Fault injection (`admin.injectFault`) makes the next N matching requests answer 429/5xx or
 * a truncated body.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { AddressInfo } from "node:net";
import { HubStore, isValidRepoId, lfsPointer, sha256Hex, wantsLfs, type Commit, type Discussion, type RepoState, type StoredFile } from "./store.js";

export const CHECKED_CLIENT_VERSION = "2.17.5";

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
  /** Handle the request normally but cut the body after this many bytes and close the
   * connection; counts only against responses whose body is longer than this. */
  truncateAfter?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  range?: string;
  status: number;
  user?: string;
  /** Body bytes sent. */
  bytes: number;
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

export interface LocalHubAdmin {
  createRepo(id: string, input?: CreateRepoInput): { sha: string };
  /** Commits files (null deletes) to a branch (default main); returns the new commit sha. */
  commit(id: string, files: Record<string, Uint8Array | string | null>, options?: { title?: string; branch?: string; author?: string }): string;
  /** Creates or moves a branch to a commit. */
  setBranch(id: string, branch: string, sha: string): void;
  setTags(id: string, tags: string[]): void;
  setGated(id: string, gated: false | "auto" | "manual", approvedUsers?: string[]): void;
  setPrivate(id: string, value: boolean): void;
  setDiscussionsDisabled(id: string, value: boolean): void;
  addToken(token: string, user: string): void;
  injectFault(fault: FaultSpec): void;
  /**
   * Registers a webhook: after every commit to a model repo (a card edit that adds a tag is a
   * commit, as on the Hub) the server POSTs the Hub's documented payload (version 3,
   * `repo.content` / `update`) with the `X-Webhook-Secret` header. Returns the webhook id.
   */
  addWebhook(hook: { url: string; secret?: string }): string;
  /** Resolves when every webhook delivery started so far has been answered. */
  webhooksSettled(): Promise<WebhookDelivery[]>;
  clearFaults(): void;
  repo(id: string): RepoState | undefined;
  discussions(id: string): Discussion[];
  /** Every request served, in order. */
  readonly requests: RequestRecord[];
  clearRequests(): void;
}

export interface WebhookDelivery {
  webhookId: string;
  repo: string;
  headSha: string;
  /** HTTP status of the receiver, or 0 when it could not be reached. */
  status: number;
}

export interface LocalHub {
  /** Base URL to pass as `hubUrl`, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  dir: string;
  admin: LocalHubAdmin;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  base: string;
  user?: string;
  token?: string;
  truncateFault?: ActiveFault;
  record: RequestRecord;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
}

export async function startLocalHub(options: LocalHubOptions = {}): Promise<LocalHub> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(`${tmpdir()}/local-hub-`);
  const store = new HubStore(dir, options.lfsThreshold ?? 10_000_000);
  const treePageSize = options.treePageSize ?? 1000;
  const modelsPageSize = options.modelsPageSize ?? 500;
  const privateAccess = options.privateAccess ?? "any-token";
  const tokens = new Map<string, string>();
  const faults: ActiveFault[] = [];
  const requests: RequestRecord[] = [];

  const userOf = (token: string): string => tokens.get(token) ?? `user-${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;

  function getRepoOr404(id: string, ctx: Ctx): RepoState {
    const repo = store.get(id);
    if (!repo || (repo.private && !canSeePrivate(repo, ctx))) throw new HttpError(404, "Repository not found", "RepoNotFound");
    return repo;
  }

  function canSeePrivate(repo: RepoState, ctx: Ctx): boolean {
    if (!ctx.user) return false;
    if (privateAccess === "any-token") return true;
    return repo.id.split("/")[0] === ctx.user || repo.approved.includes(ctx.user);
  }

  function checkGated(repo: RepoState, ctx: Ctx): void {
    if (!repo.gated) return;
    if (!ctx.user) {
      throw new HttpError(401, `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`, "GatedRepo");
    }
    if (repo.id.split("/")[0] !== ctx.user && !repo.approved.includes(ctx.user)) {
      throw new HttpError(403, `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit ${ctx.base}/${repo.id} to ask for access.`, "GatedRepo");
    }
  }

  function requireUser(ctx: Ctx): string {
    if (!ctx.user) throw new HttpError(401, "Invalid credentials in Authorization header");
    return ctx.user;
  }

  function resolveRev(repo: RepoState, rev: string): Commit {
    const commit = store.resolve(repo, rev);
    if (!commit) throw new HttpError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    return commit;
  }

  // ---------- responses ----------

  function send(ctx: Ctx, status: number, headers: Record<string, string | number>, body?: Uint8Array | string): void {
    const { res } = ctx;
    const data = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    ctx.record.status = status;
    if (data !== undefined && !("Content-Length" in headers)) headers["Content-Length"] = data.byteLength;
    res.writeHead(status, headers);
    if (ctx.req.method === "HEAD" || data === undefined) {
      res.end();
      return;
    }
    const cut = ctx.truncateFault;
    if (cut && cut.remaining > 0 && cut.truncateAfter! < data.byteLength) {
      cut.remaining--;
      const part = data.subarray(0, cut.truncateAfter);
      ctx.record.bytes = part.byteLength;
      // Close gracefully (FIN, not RST) and a little later, so that the client has consumed
      // the part that was sent before its body stream errors (an errored web stream drops
      // its queued chunks, which would make what a test sees arrive depend on timing).
      res.write(part, () => {
        setTimeout(() => res.socket?.end(), 50);
      });
      return;
    }
    ctx.record.bytes = data.byteLength;
    res.end(data);
  }

  function sendJson(ctx: Ctx, status: number, value: unknown, headers: Record<string, string> = {}): void {
    send(ctx, status, { "Content-Type": "application/json; charset=utf-8", ...headers }, JSON.stringify(value));
  }

  function sendError(ctx: Ctx, err: HttpError): void {
    const headers: Record<string, string> = { "X-Error-Message": err.message.replace(/[^\x20-\x7e]/g, "?") };
    if (err.code) headers["X-Error-Code"] = err.code;
    if (ctx.req.method === "HEAD") send(ctx, err.status, { ...headers, "Content-Type": "text/plain" });
    else sendJson(ctx, err.status, { error: err.message }, headers);
  }

  // ---------- model info ----------

  function tagsOf(repo: RepoState, commit: Commit, card: Record<string, unknown> | undefined): string[] {
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

  function safetensorsParams(commit: Commit): { parameters: Record<string, number>; total: number } | undefined {
    const files = Object.keys(commit.files).filter((p) => p.endsWith(".safetensors") && !p.includes("/"));
    if (files.length === 0) return undefined;
    const parameters: Record<string, number> = {};
    let total = 0;
    try {
      for (const path of files) {
        const sha = commit.files[path]!.sha256;
        const n = Number(store.readBlobRange(sha, 0, 8).readBigUInt64LE(0));
        if (n > 100_000_000) return undefined;
        const header = JSON.parse(store.readBlobRange(sha, 8, n).toString("utf8")) as Record<string, { dtype?: string; shape?: number[] }>;
        for (const [name, info] of Object.entries(header)) {
          if (name === "__metadata__" || !info || !Array.isArray(info.shape) || typeof info.dtype !== "string") continue;
          const numel = info.shape.reduce((a, b) => a * b, 1);
          parameters[info.dtype] = (parameters[info.dtype] ?? 0) + numel;
          total += numel;
        }
      }
    } catch {
      return undefined;
    }
    return { parameters, total };
  }

  function modelInfo(repo: RepoState, commit: Commit, expand: string[]): Record<string, unknown> {
    const card = store.cardData(commit);
    const config = store.jsonFile(commit, "config.json");
    const author = repo.id.split("/")[0];
    const all: Record<string, unknown> = {
      _id: repo.internalId,
      id: repo.id,
      modelId: repo.id,
      author,
      sha: commit.oid,
      lastModified: commit.date,
      createdAt: repo.createdAt,
      private: repo.private,
      gated: repo.gated,
      disabled: false,
      discussionsDisabled: repo.discussionsDisabled,
      downloads: repo.downloads,
      downloadsAllTime: repo.downloads,
      likes: repo.likes,
      tags: tagsOf(repo, commit, card),
      pipeline_tag: typeof card?.pipeline_tag === "string" ? card.pipeline_tag : undefined,
      library_name: typeof card?.library_name === "string" ? card.library_name : undefined,
      cardData: card,
      config: config
        ? Object.fromEntries(Object.entries(config).filter(([k]) => ["architectures", "model_type", "tokenizer_config"].includes(k)))
        : undefined,
      siblings: Object.keys(commit.files)
        .sort()
        .map((rfilename) => ({ rfilename })),
      safetensors: safetensorsParams(commit),
      spaces: [],
      "model-index": card?.["model-index"],
    };
    if (expand.length === 0) return all;
    const out: Record<string, unknown> = { _id: all._id, id: all.id };
    for (const key of expand) if (key in all) out[key] = all[key];
    return out;
  }

  function expandParams(url: URL): string[] {
    return [...url.searchParams.getAll("expand"), ...url.searchParams.getAll("expand[]")];
  }

  // ---------- files ----------

  function treeEntries(commit: Commit, path: string, recursive: boolean): Record<string, unknown>[] {
    const prefix = path ? `${path.replace(/\/+$/, "")}/` : "";
    const dirs = new Set<string>();
    const files: Record<string, unknown>[] = [];
    for (const [p, f] of Object.entries(commit.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const parts = rest.split("/");
      for (let i = 1; i < parts.length; i++) {
        if (!recursive && i > 1) break;
        dirs.add(prefix + parts.slice(0, i).join("/"));
      }
      if (!recursive && parts.length > 1) continue;
      files.push(fileEntry(p, f));
    }
    const dirEntries = [...dirs].sort().map((d) => ({ type: "directory", oid: createHash("sha1").update(`tree ${commit.oid} ${d}`).digest("hex"), size: 0, path: d }));
    return [...dirEntries, ...files];
  }

  function fileEntry(path: string, f: StoredFile): Record<string, unknown> {
    const entry: Record<string, unknown> = { type: "file", oid: f.gitOid, size: f.size, path };
    if (f.lfs) entry.lfs = { oid: f.sha256, size: f.size, pointerSize: Buffer.byteLength(lfsPointer(f.sha256, f.size)) };
    return entry;
  }

  function serveFile(ctx: Ctx, repo: RepoState, rev: string, path: string, raw: boolean): void {
    const commit = resolveRev(repo, rev);
    const file = commit.files[path];
    if (!file) throw new HttpError(404, `Entry not found`, "EntryNotFound");
    checkGated(repo, ctx);
    const pointer = raw && file.lfs ? Buffer.from(lfsPointer(file.sha256, file.size)) : undefined;
    const size = pointer ? pointer.byteLength : file.size;
    const headers: Record<string, string | number> = {
      "Content-Type": path.endsWith(".json") ? "application/json" : path.endsWith(".md") || path.endsWith(".txt") ? "text/plain; charset=utf-8" : "application/octet-stream",
      "Accept-Ranges": "bytes",
      ETag: `"${file.lfs && !raw ? file.sha256 : file.gitOid}"`,
      "X-Repo-Commit": commit.oid,
    };
    if (file.lfs && !raw) {
      headers["X-Linked-Size"] = String(file.size);
      headers["X-Linked-ETag"] = `"${file.sha256}"`;
    }
    let status = 200;
    let start = 0;
    let end = size - 1;
    const range = ctx.req.headers.range;
    if (range && size === 0) {
      headers["Content-Range"] = "bytes */0";
    } else if (range) {
      const parsed = parseRange(range, size);
      if (!parsed) {
        send(ctx, 416, { "Content-Range": `bytes */${size}`, "Content-Type": "text/plain" }, "Requested Range Not Satisfiable");
        return;
      }
      [start, end] = parsed;
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    }
    const length = Math.max(0, end - start + 1);
    if (pointer) {
      send(ctx, status, headers, pointer.subarray(start, start + length));
    } else if (ctx.req.method === "HEAD") {
      send(ctx, status, { ...headers, "Content-Length": length });
    } else if (length <= 8 * 1024 * 1024 || ctx.truncateFault) {
      // Small (or faulted) bodies go through send().
      send(ctx, status, headers, store.readBlobRange(file.sha256, start, length));
    } else {
      // Big files stream from disk.
      ctx.record.status = status;
      ctx.record.bytes = length;
      ctx.res.writeHead(status, { ...headers, "Content-Length": length });
      createReadStream(store.blobPath(file.sha256), { start, end }).pipe(ctx.res);
    }
  }

  // ---------- writes ----------

  async function handleCreateRepo(ctx: Ctx): Promise<void> {
    const user = requireUser(ctx);
    const body = (await readJson(ctx.req)) as { name?: string; organization?: string; type?: string; private?: boolean; visibility?: string; files?: { path: string; content: string; encoding?: string }[] };
    if (body.type && body.type !== "model") throw new HttpError(400, `Only model repos are supported by the local Hub`);
    const id = `${body.organization ?? user}/${body.name ?? ""}`;
    if (!isValidRepoId(id)) throw new HttpError(400, `Invalid repo name "${id}"`);
    if (store.get(id)) {
      sendJson(ctx, 409, { error: "You already created this model repo", url: `${ctx.base}/${id}` });
      return;
    }
    const isPrivate = body.visibility ? body.visibility !== "public" : (body.private ?? false);
    const repo = store.createRepo(id, { private: isPrivate, author: user });
    if (body.files?.length) {
      const changes: Record<string, StoredFile> = {};
      for (const f of body.files) changes[f.path] = store.storeFile(f.path, Buffer.from(f.content, f.encoding === "base64" ? "base64" : "utf8"));
      store.commit(repo, { branch: "main", title: "Upload files", description: "", author: user, changes });
    }
    sendJson(ctx, 200, { url: `${ctx.base}/${id}`, name: id, id: repo.internalId });
  }

  async function handlePreupload(ctx: Ctx, repo: RepoState, rev: string): Promise<void> {
    requireUser(ctx);
    resolveRev(repo, rev);
    const body = (await readJson(ctx.req)) as { files?: { path: string; size: number; sample: string }[] };
    const files = (body.files ?? []).map((f) => ({
      path: f.path,
      uploadMode: wantsLfs(f.path, f.size, Buffer.from(f.sample ?? "", "base64"), store.lfsThreshold) ? "lfs" : "regular",
      shouldIgnore: false,
    }));
    sendJson(ctx, 200, { files, commitOid: store.resolve(repo, rev)?.oid });
  }

  async function handleLfsBatch(ctx: Ctx, repo: RepoState): Promise<void> {
    requireUser(ctx);
    const body = (await readJson(ctx.req)) as { operation?: string; transfers?: string[]; objects?: { oid: string; size: number }[] };
    if (body.operation !== "upload") throw new HttpError(400, "Only the upload operation is supported");
    if (body.transfers && !body.transfers.includes("basic")) throw new HttpError(422, "Only the basic transfer is supported");
    const objects = (body.objects ?? []).map((o) => {
      if (!/^[0-9a-f]{64}$/.test(o.oid) || !Number.isSafeInteger(o.size) || o.size < 0) {
        return { oid: o.oid, size: o.size, error: { code: 422, message: "Invalid oid or size" } };
      }
      if (store.hasBlob(o.oid)) return { oid: o.oid, size: o.size, authenticated: true };
      return {
        oid: o.oid,
        size: o.size,
        authenticated: true,
        actions: {
          upload: { href: `${ctx.base}/__lfs/upload/${o.oid}?size=${o.size}&repo=${encodeURIComponent(repo.id)}`, expires_in: 3600 },
          verify: { href: `${ctx.base}/__lfs/verify`, expires_in: 3600 },
        },
      };
    });
    send(ctx, 200, { "Content-Type": "application/vnd.git-lfs+json" }, JSON.stringify({ transfer: "basic", objects }));
  }

  async function handleLfsUpload(ctx: Ctx, oid: string): Promise<void> {
    const data = await readBody(ctx.req);
    const expectedSize = Number(ctx.url.searchParams.get("size"));
    if (sha256Hex(data) !== oid) throw new HttpError(400, `Uploaded content does not match oid ${oid}`);
    if (Number.isFinite(expectedSize) && data.byteLength !== expectedSize) throw new HttpError(400, `Uploaded ${data.byteLength} bytes, expected ${expectedSize}`);
    store.putBlob(data);
    send(ctx, 200, { "Content-Type": "text/plain" }, "");
  }

  async function handleLfsVerify(ctx: Ctx): Promise<void> {
    const body = (await readJson(ctx.req)) as { oid?: string; size?: number };
    if (!body.oid || !store.hasBlob(body.oid)) throw new HttpError(404, `Object ${body.oid} not found`);
    const size = store.blobSize(body.oid);
    if (body.size !== undefined && body.size !== size) throw new HttpError(422, `Object ${body.oid} has size ${size}, not ${body.size}`);
    sendJson(ctx, 200, { message: "verified" });
  }

  async function handleCommit(ctx: Ctx, repo: RepoState, branch: string): Promise<void> {
    const user = requireUser(ctx);
    if (ctx.url.searchParams.get("create_pr")) throw new HttpError(400, "Pull requests are not supported by the local Hub");
    if (!repo.branches[branch]) throw new HttpError(404, `Invalid rev id: ${branch}`, "RevisionNotFound");
    const text = (await readBody(ctx.req)).toString("utf8");
    let header: { summary?: string; description?: string; parentCommit?: string } = {};
    const changes: Record<string, StoredFile | null> = {};
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      let item: { key: string; value: Record<string, unknown> };
      try {
        item = JSON.parse(line) as typeof item;
      } catch {
        throw new HttpError(400, "Invalid NDJSON line in commit payload");
      }
      const v = item.value ?? {};
      const path = typeof v.path === "string" ? v.path : "";
      if (item.key !== "header" && (!path || path.startsWith("/") || path.split("/").includes(".."))) throw new HttpError(400, `Invalid path "${path}"`);
      switch (item.key) {
        case "header":
          header = v as typeof header;
          break;
        case "file": {
          const content = Buffer.from(String(v.content ?? ""), v.encoding === "base64" ? "base64" : "utf8");
          changes[path] = store.storeFile(path, content, false);
          break;
        }
        case "lfsFile": {
          const oid = String(v.oid ?? "");
          if (!store.hasBlob(oid)) throw new HttpError(422, `LFS file ${path} (${oid}) was not uploaded`);
          const size = store.blobSize(oid);
          if (v.size !== undefined && v.size !== size) throw new HttpError(422, `LFS file ${path}: size ${String(v.size)} does not match the uploaded ${size} bytes`);
          changes[path] = { sha256: oid, size, lfs: true, gitOid: createHash("sha1").update(`blob ${Buffer.byteLength(lfsPointer(oid, size))}\0${lfsPointer(oid, size)}`).digest("hex") };
          break;
        }
        case "deletedFile":
        case "deletedFolder":
          changes[path] = null;
          break;
        default:
          throw new HttpError(400, `Unknown commit operation "${item.key}"`);
      }
    }
    if (!header.summary) throw new HttpError(400, "Commit summary is required");
    if (header.parentCommit && header.parentCommit !== repo.branches[branch]) {
      throw new HttpError(412, "A commit has happened since. Please refresh and try again.");
    }
    const commit = store.commit(repo, { branch, title: header.summary, description: header.description ?? "", author: user, changes });
    sendJson(ctx, 200, { success: true, commitOid: commit.oid, commitUrl: `${ctx.base}/${repo.id}/commit/${commit.oid}`, hookOutput: "" });
  }

  // ---------- discussions ----------

  function discussionSummary(repo: RepoState, d: Discussion): Record<string, unknown> {
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

  function checkDiscussionsEnabled(repo: RepoState): void {
    if (repo.discussionsDisabled) throw new HttpError(403, "Discussions are disabled for this repo");
  }

  function findDiscussion(repo: RepoState, num: string): Discussion {
    const d = repo.discussions.find((x) => String(x.num) === num);
    if (!d) throw new HttpError(404, "Discussion not found");
    return d;
  }

  async function handleDiscussions(ctx: Ctx, repo: RepoState, rest: string[]): Promise<void> {
    const method = ctx.req.method;
    checkDiscussionsEnabled(repo);
    if (rest.length === 0 && method === "GET") {
      const page = Math.max(0, Number(ctx.url.searchParams.get("p") ?? 0) || 0);
      const author = ctx.url.searchParams.get("author");
      const status = ctx.url.searchParams.get("status");
      const type = ctx.url.searchParams.get("type");
      const all = [...repo.discussions]
        .reverse()
        .filter((d) => (!author || d.author === author) && (!status || status === "all" || d.status === status) && (!type || type === "all" || (type === "pull_request") === d.isPullRequest));
      const pageSize = 50;
      sendJson(ctx, 200, {
        discussions: all.slice(page * pageSize, (page + 1) * pageSize).map((d) => discussionSummary(repo, d)),
        count: all.length,
        start: page * pageSize,
        numClosedDiscussions: all.filter((d) => d.status === "closed").length,
      });
      return;
    }
    if (rest.length === 0 && method === "POST") {
      const user = requireUser(ctx);
      const body = (await readJson(ctx.req)) as { title?: string; description?: string; pullRequest?: boolean };
      const title = (body.title ?? "").trim();
      if (title.length < 3 || title.length > 200) throw new HttpError(400, "Title must be between 3 and 200 characters");
      if (body.pullRequest) throw new HttpError(400, "Pull requests are not supported by the local Hub");
      const now = new Date().toISOString();
      const d: Discussion = { num: repo.discussions.length + 1, title, status: "open", author: user, isPullRequest: false, createdAt: now, events: [] };
      d.events.push({ id: randomBytes(12).toString("hex"), type: "comment", createdAt: now, author: user, content: body.description ?? "" });
      repo.discussions.push(d);
      store.save(repo);
      sendJson(ctx, 200, { ...discussionSummary(repo, d), url: `${ctx.base}/${repo.id}/discussions/${d.num}` });
      return;
    }
    const d = findDiscussion(repo, rest[0]!);
    if (rest.length === 1 && method === "GET") {
      sendJson(ctx, 200, { ...discussionSummary(repo, d), events: d.events.map(eventJson) });
      return;
    }
    if (rest.length === 2 && rest[1] === "comment" && method === "POST") {
      const user = requireUser(ctx);
      const body = (await readJson(ctx.req)) as { comment?: string };
      if (!body.comment?.trim()) throw new HttpError(400, "Comment cannot be empty");
      const event = { id: randomBytes(12).toString("hex"), type: "comment" as const, createdAt: new Date().toISOString(), author: user, content: body.comment };
      d.events.push(event);
      store.save(repo);
      sendJson(ctx, 200, { newMessage: eventJson(event) });
      return;
    }
    if (rest.length === 2 && rest[1] === "status" && method === "POST") {
      requireUser(ctx);
      const body = (await readJson(ctx.req)) as { status?: string };
      if (body.status !== "open" && body.status !== "closed") throw new HttpError(400, "Status must be open or closed");
      d.status = body.status;
      store.save(repo);
      sendJson(ctx, 200, { newStatus: { status: d.status } });
      return;
    }
    throw new HttpError(404, "Not found");
  }

  // ---------- listing ----------

  function handleListModels(ctx: Ctx): void {
    const q = ctx.url.searchParams;
    const filters = q.getAll("filter");
    const author = q.get("author");
    const search = q.get("search")?.toLowerCase();
    const limit = Math.max(1, Math.min(Number(q.get("limit") ?? modelsPageSize) || modelsPageSize, modelsPageSize));
    const cursor = Number(q.get("cursor") ?? 0) || 0;
    const expand = expandParams(ctx.url);
    const matches = store
      .all()
      .filter((r) => !r.private || canSeePrivate(r, ctx))
      .filter((r) => !author || r.id.split("/")[0] === author)
      .filter((r) => !search || r.id.toLowerCase().includes(search))
      .map((r) => ({ r, commit: store.resolve(r, "main")! }))
      .filter(({ r, commit }) => {
        const tags = tagsOf(r, commit, store.cardData(commit));
        return filters.every((f) => tags.includes(f));
      })
      .sort((a, b) => (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0));
    const page = matches.slice(cursor, cursor + limit);
    const headers: Record<string, string> = {};
    if (cursor + limit < matches.length) {
      const next = new URL(ctx.url.toString());
      next.searchParams.set("cursor", String(cursor + limit));
      headers.Link = `<${ctx.base}${next.pathname}${next.search}>; rel="next"`;
    }
    sendJson(ctx, 200, page.map(({ r, commit }) => modelInfo(r, commit, expand)), headers);
  }

  // ---------- routing ----------

  async function route(ctx: Ctx): Promise<void> {
    const { req, url } = ctx;
    const method = req.method ?? "GET";
    const segments = url.pathname.split("/").slice(1).map(safeDecode);

    if (url.pathname === "/api/whoami-v2" && method === "GET") {
      const user = requireUser(ctx);
      sendJson(ctx, 200, { type: "user", id: user, name: user, fullname: user, orgs: [], auth: { type: "access_token", accessToken: { displayName: "local", role: "write" } } });
      return;
    }
    if (url.pathname === "/api/repos/create" && method === "POST") return handleCreateRepo(ctx);
    if (url.pathname === "/api/models" && method === "GET") return handleListModels(ctx);
    if (segments[0] === "__lfs") {
      if (segments[1] === "upload" && method === "PUT" && segments[2]) return handleLfsUpload(ctx, segments[2]);
      if (segments[1] === "verify" && method === "POST") return handleLfsVerify(ctx);
      throw new HttpError(404, "Not found");
    }
    if (segments[0] === "api" && segments[1] === "models" && segments.length >= 4) {
      const id = `${segments[2]}/${segments[3]}`;
      const repo = getRepoOr404(id, ctx);
      const op = segments[4];
      const rest = segments.slice(5);
      if (op === undefined && method === "GET") {
        sendJson(ctx, 200, modelInfo(repo, resolveRev(repo, "main"), expandParams(url)));
        return;
      }
      if (op === "revision" && method === "GET" && rest.length >= 1) {
        sendJson(ctx, 200, modelInfo(repo, resolveRev(repo, rest.join("/")), expandParams(url)));
        return;
      }
      if (op === "tree" && method === "GET" && rest.length >= 1) {
        const commit = resolveRev(repo, rest[0]!);
        const path = rest.slice(1).join("/");
        if (path && !Object.keys(commit.files).some((p) => p.startsWith(`${path}/`))) throw new HttpError(404, `Entry not found`, "EntryNotFound");
        const entries = treeEntries(commit, path, url.searchParams.get("recursive") === "true" || url.searchParams.get("recursive") === "1");
        const cursor = Number(url.searchParams.get("cursor") ?? 0) || 0;
        const headers: Record<string, string> = {};
        if (cursor + treePageSize < entries.length) {
          const next = new URL(url.toString());
          next.searchParams.set("cursor", String(cursor + treePageSize));
          headers.Link = `<${ctx.base}${next.pathname}${next.search}>; rel="next"`;
        }
        sendJson(ctx, 200, entries.slice(cursor, cursor + treePageSize), headers);
        return;
      }
      if (op === "preupload" && method === "POST" && rest.length >= 1) return handlePreupload(ctx, repo, rest.join("/"));
      if (op === "commit" && method === "POST" && rest.length >= 1) return handleCommit(ctx, repo, rest.join("/"));
      if (op === "discussions") return handleDiscussions(ctx, repo, rest);
      throw new HttpError(404, "Not found");
    }
    // /{owner}/{name}.git/info/lfs/objects/batch
    if (segments.length === 6 && segments[1]!.endsWith(".git") && segments.slice(2).join("/") === "info/lfs/objects/batch" && method === "POST") {
      const repo = getRepoOr404(`${segments[0]}/${segments[1]!.slice(0, -4)}`, ctx);
      return handleLfsBatch(ctx, repo);
    }
    // /{owner}/{name}/resolve|raw/{rev}/{path...}
    if (segments.length >= 5 && (segments[2] === "resolve" || segments[2] === "raw") && (method === "GET" || method === "HEAD")) {
      const repo = getRepoOr404(`${segments[0]}/${segments[1]}`, ctx);
      return serveFile(ctx, repo, segments[3]!, segments.slice(4).join("/"), segments[2] === "raw");
    }
    throw new HttpError(404, "Not found");
  }

  const server: Server = createServer((req, res) => {
    const host = req.headers.host ?? "127.0.0.1";
    const base = `http://${host}`;
    const url = new URL(req.url ?? "/", base);
    const record: RequestRecord = { method: req.method ?? "GET", path: url.pathname + url.search, status: 0, bytes: 0 };
    if (req.headers.range) record.range = req.headers.range;
    requests.push(record);
    const ctx: Ctx = { req, res, url, base, record };
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ")) {
      ctx.token = auth.slice(7).trim();
      ctx.user = userOf(ctx.token);
      record.user = ctx.user;
    }
    const fault = faults.find((f) => f.remaining > 0 && (f.truncateAfter === undefined || req.method !== "HEAD") && (!f.method || f.method === req.method) && (typeof f.path === "string" ? url.pathname.startsWith(f.path) : f.path.test(url.pathname)));
    if (fault) {
      // A truncation fault is spent only on a body it actually cuts (see send()).
      if (fault.truncateAfter !== undefined) ctx.truncateFault = fault;
      else {
        fault.remaining--;
        req.resume();
        send(ctx, fault.status ?? 500, { "Content-Type": "application/json", ...(fault.headers ?? {}) }, fault.body ?? JSON.stringify({ error: `Injected fault (${fault.status ?? 500})` }));
        return;
      }
    }
    route(ctx).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) sendError(ctx, err);
      else sendError(ctx, new HttpError(500, `Internal error: ${err instanceof Error ? err.message : String(err)}`));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${options.host ?? "127.0.0.1"}:${address.port}`;

  function repoOrThrow(id: string): RepoState {
    const repo = store.get(id);
    if (!repo) throw new Error(`local hub: no repo ${id}`);
    return repo;
  }

  const webhooks: Array<{ id: string; url: string; secret?: string }> = [];
  const deliveries: Array<Promise<WebhookDelivery>> = [];
  store.commitListeners.push((repo, branch, oldOid, commit) => {
    if (webhooks.length === 0) return;
    const card = store.cardData(commit);
    for (const hook of webhooks) {
      const payload = {
        event: { action: "update", scope: "repo.content" },
        repo: {
          type: "model",
          name: repo.id,
          id: createHash("sha1").update(repo.id).digest("hex").slice(0, 24),
          private: repo.private,
          url: { web: `${url}/${repo.id}`, api: `${url}/api/models/${repo.id}` },
          headSha: commit.oid,
          tags: tagsOf(repo, commit, card),
          owner: { id: createHash("sha1").update(repo.id.split("/")[0]!).digest("hex").slice(0, 24) },
        },
        updatedRefs: [{ ref: `refs/heads/${branch}`, oldSha: oldOid, newSha: commit.oid }],
        webhook: { id: hook.id, version: 3 },
      };
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (hook.secret !== undefined) headers["x-webhook-secret"] = hook.secret;
      deliveries.push(
        fetch(hook.url, { method: "POST", headers, body: JSON.stringify(payload) }).then(
          async (res) => {
            await res.arrayBuffer().catch(() => undefined);
            return { webhookId: hook.id, repo: repo.id, headSha: commit.oid, status: res.status };
          },
          () => ({ webhookId: hook.id, repo: repo.id, headSha: commit.oid, status: 0 }),
        ),
      );
    }
  });

  const admin: LocalHubAdmin = {
    addWebhook(hook) {
      const id = createHash("sha1").update(`${hook.url}#${webhooks.length}`).digest("hex").slice(0, 24);
      webhooks.push({ id, ...hook });
      return id;
    },
    webhooksSettled: () => Promise.all(deliveries),
    createRepo(id, input = {}) {
      if (!isValidRepoId(id)) throw new Error(`local hub: invalid repo id "${id}"`);
      if (store.get(id)) throw new Error(`local hub: repo ${id} exists`);
      const author = input.author ?? id.split("/")[0]!;
      const repo = store.createRepo(id, { private: input.private, author });
      repo.gated = input.gated ?? false;
      repo.extraTags = input.tags ?? [];
      repo.discussionsDisabled = input.discussionsDisabled ?? false;
      store.save(repo);
      if (input.files && Object.keys(input.files).length > 0) admin.commit(id, input.files, { title: "Upload files", author });
      return { sha: repo.branches.main! };
    },
    commit(id, files, options = {}) {
      const repo = repoOrThrow(id);
      const changes: Record<string, StoredFile | null> = {};
      for (const [path, content] of Object.entries(files)) {
        changes[path] = content === null ? null : store.storeFile(path, typeof content === "string" ? new TextEncoder().encode(content) : content);
      }
      return store.commit(repo, { branch: options.branch ?? "main", title: options.title ?? "Update files", description: "", author: options.author ?? id.split("/")[0]!, changes }).oid;
    },
    setBranch(id, branch, sha) {
      const repo = repoOrThrow(id);
      if (!repo.commits[sha]) throw new Error(`local hub: no commit ${sha} in ${id}`);
      repo.branches[branch] = sha;
      store.save(repo);
    },
    setTags(id, tags) {
      const repo = repoOrThrow(id);
      repo.extraTags = [...tags];
      store.save(repo);
    },
    setGated(id, gated, approvedUsers) {
      const repo = repoOrThrow(id);
      repo.gated = gated;
      if (approvedUsers) repo.approved = [...approvedUsers];
      store.save(repo);
    },
    setPrivate(id, value) {
      const repo = repoOrThrow(id);
      repo.private = value;
      store.save(repo);
    },
    setDiscussionsDisabled(id, value) {
      const repo = repoOrThrow(id);
      repo.discussionsDisabled = value;
      store.save(repo);
    },
    addToken(token, user) {
      tokens.set(token, user);
    },
    injectFault(fault) {
      faults.push({ ...fault, remaining: fault.count ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    repo(id) {
      return store.get(id);
    },
    discussions(id) {
      return repoOrThrow(id).discussions;
    },
    requests,
    clearRequests() {
      requests.length = 0;
    },
  };

  return {
    url,
    dir,
    admin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => {
          if (ownDir) rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A single `bytes=` range → inclusive [start, end], or null when unsatisfiable. */
export function parseRange(header: string, size: number): [number, number] | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return [start, end];
}

const MAX_BODY = 2 * 1024 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (c: Buffer) => {
      total += c.byteLength;
      if (total > MAX_BODY) {
        reject(new HttpError(413, "Payload too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString("utf8") || "{}");
  } catch {
    throw new HttpError(400, "Invalid JSON body");
  }
}
