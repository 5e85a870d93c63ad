/**
 * A local, file-backed, Hugging Face Hub-compatible HTTP server for tests, the demo and
 * offline runs. Built on node:http only. This file starts it, routes requests to the route
 * families and holds the admin API:
 *
 *   repos.ts        GET /api/models/{repo}[/revision/{rev}], GET /api/models (listing, sort),
 *                   GET /api/models/{repo}/tree/{rev}[/{path}], POST /api/repos/create|move,
 *                   GET /api/whoami-v2
 *   files.ts        GET|HEAD /{repo}/resolve|raw/{rev}/{path}  (302 to cdn.ts for LFS files)
 *   uploads.ts      POST /api/models/{repo}/preupload/{rev}, POST /{repo}.git/info/lfs/objects/batch,
 *                   PUT /__lfs/upload/{oid}, PUT|POST /__lfs/multipart/{id}/{n|complete},
 *                   POST /__lfs/verify, POST /api/models/{repo}/commit/{rev}
 *   discussions.ts  /api/models/{repo}/discussions[/{num}[/comment|/status]]
 *   webhooks.ts     the payloads POSTed to registered hooks
 *
 * Checked against @huggingface/hub 2.17.5 (node_modules/@huggingface/hub/package.json) and
 * huggingface_hub's hf_api.py / _http.py / _webhooks_payload.py. With `realHub` behaviours on
 * (the default) it also answers as huggingface.co does where a client can tell: compressed
 * JSON, 302 of LFS downloads to a CDN host, 307 for renamed repos, multipart LFS uploads (see
 * types.ts RealHubBehaviours). If the client is upgraded, re-read its lib/ sources; the spec
 * files in src/hub/ and src/hub-server/ will say what broke.
 *
 * Errors are JSON `{"error": …}` (plain text for HEAD) with the Hub's `X-Error-Code`
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and `X-Error-Message` headers.
 * Fault injection (`admin.injectFault`) makes the next N matching requests answer 429/5xx or
 * a truncated body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { AddressInfo } from "node:net";
import { HubStore, isValidRepoId, type StoredFile } from "./store.js";
import { HubCore, RepoMoved } from "./core.js";
import { HttpError, redirect, safeDecode, send, sendError, sendJson, type ActiveFault, type Ctx } from "./http.js";
import { expandParams, handleCreateRepo, handleListModels, handleMoveRepo, handleTree, handleWhoAmI, modelInfo, moveRepo } from "./repos.js";
import { serveFile } from "./files.js";
import { serveCdn } from "./cdn.js";
import { handleCommit, handleLfsBatch, handleLfsUpload, handleLfsVerify, handleMultipartComplete, handleMultipartPart, handlePreupload, UploadSessions } from "./uploads.js";
import { handleDiscussions } from "./discussions.js";
import { Webhooks } from "./webhooks.js";
import type { LocalHub, LocalHubAdmin, LocalHubOptions, RealHubBehaviours, RequestRecord } from "./types.js";

export type * from "./types.js";
export { parseRange } from "./http.js";

export const CHECKED_CLIENT_VERSION = "2.17.5";

const ALL_REAL_HUB: RealHubBehaviours = { compression: true, cdnRedirects: true, renameRedirects: true, multipartUploads: true };

function realHubBehaviours(option: LocalHubOptions["realHub"]): RealHubBehaviours {
  if (option === false) return { compression: false, cdnRedirects: false, renameRedirects: false, multipartUploads: false };
  return { ...ALL_REAL_HUB, ...(option ?? {}) };
}

export async function startLocalHub(options: LocalHubOptions = {}): Promise<LocalHub> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(`${tmpdir()}/local-hub-`);
  const store = new HubStore(dir, options.lfsThreshold ?? 10_000_000);
  const core = new HubCore(store, {
    treePageSize: options.treePageSize ?? 1000,
    modelsPageSize: options.modelsPageSize ?? 500,
    privateAccess: options.privateAccess ?? "any-token",
    realHub: realHubBehaviours(options.realHub),
    multipartChunkSize: options.multipartChunkSize ?? 8 * 1024 * 1024,
  });
  const faults: ActiveFault[] = [];
  const requests: RequestRecord[] = [];
  const sessions = new UploadSessions();
  const host = options.host ?? "127.0.0.1";
  let url = "";
  const webhooks = new Webhooks(core, () => url);
  store.commitListeners.push((repo, branch, oldOid, commit) => core.emit({ scope: "repo.content", action: "update", repo, updatedRef: { branch, oldSha: oldOid, newSha: commit.oid } }));

  async function route(ctx: Ctx): Promise<void> {
    const { req, url } = ctx;
    const method = req.method ?? "GET";
    const segments = url.pathname.split("/").slice(1).map(safeDecode);

    if (url.pathname === "/api/whoami-v2" && method === "GET") return handleWhoAmI(core, ctx);
    if (url.pathname === "/api/repos/create" && method === "POST") return handleCreateRepo(core, ctx);
    if (url.pathname === "/api/repos/move" && method === "POST") return handleMoveRepo(core, ctx);
    if (url.pathname === "/api/models" && method === "GET") return handleListModels(core, ctx);
    if (segments[0] === "__lfs") {
      if (segments[1] === "upload" && method === "PUT" && segments[2]) return handleLfsUpload(core, ctx, segments[2]);
      if (segments[1] === "verify" && method === "POST") return handleLfsVerify(core, ctx);
      if (segments[1] === "multipart" && segments[2] && segments[3] === "complete" && method === "POST") return handleMultipartComplete(core, sessions, ctx, segments[2]);
      if (segments[1] === "multipart" && segments[2] && segments[3] && method === "PUT") return handleMultipartPart(core, sessions, ctx, segments[2], Number(segments[3]));
      throw new HttpError(404, "Not found");
    }
    if (segments[0] === "api" && segments[1] === "models" && segments.length >= 4) {
      const repo = core.getRepoOr404(`${segments[2]}/${segments[3]}`, ctx);
      const op = segments[4];
      const rest = segments.slice(5);
      if (op === undefined && method === "GET") return sendJson(ctx, 200, modelInfo(core, repo, core.resolveRev(repo, "main"), expandParams(url)));
      if (op === "revision" && method === "GET" && rest.length >= 1) return sendJson(ctx, 200, modelInfo(core, repo, core.resolveRev(repo, rest.join("/")), expandParams(url)));
      if (op === "tree" && method === "GET" && rest.length >= 1) return handleTree(core, ctx, repo, rest);
      if (op === "preupload" && method === "POST" && rest.length >= 1) return handlePreupload(core, ctx, repo, rest.join("/"));
      if (op === "commit" && method === "POST" && rest.length >= 1) return handleCommit(core, ctx, repo, rest.join("/"));
      if (op === "discussions") return handleDiscussions(core, ctx, repo, rest);
      throw new HttpError(404, "Not found");
    }
    // /{owner}/{name}.git/info/lfs/objects/batch
    if (segments.length === 6 && segments[1]!.endsWith(".git") && segments.slice(2).join("/") === "info/lfs/objects/batch" && method === "POST") {
      const repo = core.getRepoOr404(`${segments[0]}/${segments[1]!.slice(0, -4)}`, ctx);
      return handleLfsBatch(core, sessions, ctx, repo);
    }
    // /{owner}/{name}/resolve|raw/{rev}/{path...}
    if (segments.length >= 5 && (segments[2] === "resolve" || segments[2] === "raw") && (method === "GET" || method === "HEAD")) {
      const repo = core.getRepoOr404(`${segments[0]}/${segments[1]}`, ctx);
      return serveFile(core, ctx, repo, segments[3]!, segments.slice(4).join("/"), segments[2] === "raw");
    }
    throw new HttpError(404, "Not found");
  }

  /** A request context, its record, and the fault (if any) that applies to it. */
  function begin(req: IncomingMessage, res: ServerResponse, hostKind: "hub" | "cdn"): { ctx: Ctx; fault?: ActiveFault } {
    const base = `http://${req.headers.host ?? host}`;
    const reqUrl = new URL(req.url ?? "/", base);
    const leg = hostKind === "cdn" ? core.cdnLegs.get(reqUrl.pathname + reqUrl.search) : undefined;
    if (leg) core.cdnLegs.delete(reqUrl.pathname + reqUrl.search);
    const record: RequestRecord = leg?.record ?? { method: req.method ?? "GET", path: reqUrl.pathname + reqUrl.search, status: 0, bytes: 0 };
    if (!leg) {
      if (hostKind === "cdn") record.host = "cdn";
      if (req.headers.range) record.range = req.headers.range;
      requests.push(record);
    }
    const ctx: Ctx = { req, res, url: reqUrl, base, record, compress: core.settings.realHub.compression };
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ")) {
      ctx.token = auth.slice(7).trim();
      ctx.user = core.userOf(ctx.token);
      record.user = ctx.user;
    }
    if (leg) return { ctx, fault: leg.fault };
    const fault = faults.find((f) => f.remaining > 0 && (f.truncateAfter === undefined || req.method !== "HEAD") && (!f.method || f.method === req.method) && (typeof f.path === "string" ? reqUrl.pathname.startsWith(f.path) : f.path.test(reqUrl.pathname)));
    return { ctx, fault };
  }

  function answer(ctx: Ctx, work: () => void | Promise<void>): void {
    Promise.resolve()
      .then(work)
      .catch((err: unknown) => {
        if (ctx.res.headersSent) {
          ctx.res.destroy();
          return;
        }
        if (err instanceof RepoMoved) {
          // The same path under the new name, query kept: the Hub's 307 for a renamed repo.
          const target = new URL(ctx.url.toString());
          // Repo ids are URL-safe ([A-Za-z0-9._-]), so the first occurrence in the path is the repo.
          target.pathname = ctx.url.pathname.replace(err.from, err.to);
          // Relative, as the Hub sends it (huggingface_hub's file_download.py follows only
          // relative redirects for this reason: "useful in case of a renamed repository").
          redirect(ctx, 307, `${target.pathname}${target.search}`);
        } else if (err instanceof HttpError) sendError(ctx, err);
        else sendError(ctx, new HttpError(500, `Internal error: ${err instanceof Error ? err.message : String(err)}`));
      });
  }

  const server: Server = createServer((req, res) => {
    const { ctx, fault } = begin(req, res, "hub");
    if (fault) {
      // A truncation fault is spent only on a body it actually cuts (see send()).
      if (fault.truncateAfter !== undefined) ctx.truncateFault = fault;
      else {
        fault.remaining--;
        req.resume();
        const answerFault = () => send(ctx, fault.status ?? 500, { "Content-Type": "application/json", ...(fault.headers ?? {}) }, fault.body ?? JSON.stringify({ error: `Injected fault (${fault.status ?? 500})` }));
        if (fault.delayMs) setTimeout(answerFault, fault.delayMs);
        else answerFault();
        return;
      }
    }
    answer(ctx, () => route(ctx));
  });
  const cdn: Server = createServer((req, res) => {
    const { ctx, fault } = begin(req, res, "cdn");
    if (fault?.truncateAfter !== undefined) ctx.truncateFault = fault;
    answer(ctx, () => serveCdn(core, ctx));
  });

  const listen = (s: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
    });
  url = `http://${host}:${await listen(server, options.port ?? 0)}`;
  core.cdnUrl = `http://${host}:${await listen(cdn, 0)}`;

  function repoOrThrow(id: string) {
    const repo = store.get(id);
    if (!repo) throw new Error(`local hub: no repo ${id}`);
    return repo;
  }

  const admin: LocalHubAdmin = {
    addWebhook: (hook) => webhooks.add(hook),
    webhooksSettled: () => webhooks.settled(),
    createRepo(id, input = {}) {
      if (!isValidRepoId(id)) throw new Error(`local hub: invalid repo id "${id}"`);
      if (store.get(id)) throw new Error(`local hub: repo ${id} exists`);
      const author = input.author ?? id.split("/")[0]!;
      const repo = store.createRepo(id, { private: input.private, author });
      repo.gated = input.gated ?? false;
      repo.extraTags = input.tags ?? [];
      repo.discussionsDisabled = input.discussionsDisabled ?? false;
      store.save(repo);
      core.emit({ scope: "repo", action: "create", repo });
      if (input.files && Object.keys(input.files).length > 0) admin.commit(id, input.files, { title: "Upload files", author });
      return { sha: repo.branches.main! };
    },
    commit(id, files, opts = {}) {
      const repo = repoOrThrow(id);
      const changes: Record<string, StoredFile | null> = {};
      for (const [path, content] of Object.entries(files)) {
        changes[path] = content === null ? null : store.storeFile(path, typeof content === "string" ? new TextEncoder().encode(content) : content);
      }
      return store.commit(repo, { branch: opts.branch ?? "main", title: opts.title ?? "Update files", description: "", author: opts.author ?? id.split("/")[0]!, changes }).oid;
    },
    renameRepo(from, to) {
      repoOrThrow(from);
      moveRepo(core, from, to);
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
      core.emit({ scope: "repo.config", action: "update", repo });
    },
    setGated(id, gated, approvedUsers) {
      const repo = repoOrThrow(id);
      repo.gated = gated;
      if (approvedUsers) repo.approved = [...approvedUsers];
      store.save(repo);
      core.emit({ scope: "repo.config", action: "update", repo });
    },
    setPrivate(id, value) {
      const repo = repoOrThrow(id);
      repo.private = value;
      store.save(repo);
      core.emit({ scope: "repo.config", action: "update", repo });
    },
    setDiscussionsDisabled(id, value) {
      const repo = repoOrThrow(id);
      repo.discussionsDisabled = value;
      store.save(repo);
      core.emit({ scope: "repo.config", action: "update", repo });
    },
    addToken(token, user) {
      core.tokens.set(token, user);
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

  const closeServer = (s: Server) =>
    new Promise<void>((resolve) => {
      s.closeAllConnections?.();
      s.close(() => resolve());
    });
  return {
    url,
    cdnUrl: core.cdnUrl,
    dir,
    admin,
    close: async () => {
      await Promise.all([closeServer(server), closeServer(cdn)]);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
