/**
 * Repos and listings: model info, the models listing (filter, author, search, sort/direction,
 * cursor pages), tree listings, repo creation, repo moves (renames) and whoami.
 */
import { createHash } from "node:crypto";
import { HttpError, readJson, sendJson, type Ctx } from "./http.js";
import type { HubCore } from "./core.js";
import { isValidRepoId, lfsPointer, type Commit, type RepoState, type StoredFile } from "./store.js";

function safetensorsParams(core: HubCore, commit: Commit): { parameters: Record<string, number>; total: number } | undefined {
  const files = Object.keys(commit.files).filter((p) => p.endsWith(".safetensors") && !p.includes("/"));
  if (files.length === 0) return undefined;
  const parameters: Record<string, number> = {};
  let total = 0;
  try {
    for (const path of files) {
      const sha = commit.files[path]!.sha256;
      const n = Number(core.store.readBlobRange(sha, 0, 8).readBigUInt64LE(0));
      if (n > 100_000_000) return undefined;
      const header = JSON.parse(core.store.readBlobRange(sha, 8, n).toString("utf8")) as Record<string, { dtype?: string; shape?: number[] }>;
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

export function modelInfo(core: HubCore, repo: RepoState, commit: Commit, expand: string[]): Record<string, unknown> {
  const card = core.store.cardData(commit);
  const config = core.store.jsonFile(commit, "config.json");
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
    tags: core.tagsOf(repo, commit, card),
    pipeline_tag: typeof card?.pipeline_tag === "string" ? card.pipeline_tag : undefined,
    library_name: typeof card?.library_name === "string" ? card.library_name : undefined,
    cardData: card,
    config: config ? Object.fromEntries(Object.entries(config).filter(([k]) => ["architectures", "model_type", "tokenizer_config"].includes(k))) : undefined,
    siblings: Object.keys(commit.files)
      .sort()
      .map((rfilename) => ({ rfilename })),
    safetensors: safetensorsParams(core, commit),
    spaces: [],
    "model-index": card?.["model-index"],
  };
  if (expand.length === 0) return all;
  const out: Record<string, unknown> = { _id: all._id, id: all.id };
  for (const key of expand) if (key in all) out[key] = all[key];
  return out;
}

export function expandParams(url: URL): string[] {
  return [...url.searchParams.getAll("expand"), ...url.searchParams.getAll("expand[]")];
}

/** `Link: <next>; rel="next"` when more entries follow this page. */
function nextPageHeader(ctx: Ctx, cursor: number, pageSize: number, total: number): Record<string, string> {
  if (cursor + pageSize >= total) return {};
  const next = new URL(ctx.url.toString());
  next.searchParams.set("cursor", String(cursor + pageSize));
  return { Link: `<${ctx.base}${next.pathname}${next.search}>; rel="next"` };
}

/** Sort keys the Hub's `/api/models?sort=` accepts that the local Hub can order by. */
const SORT_KEYS: Record<string, (r: RepoState, c: Commit) => string | number> = {
  lastModified: (_r, c) => c.date,
  createdAt: (r) => r.createdAt,
  downloads: (r) => r.downloads,
  likes: (r) => r.likes,
  trendingScore: (r) => r.likes,
  id: (r) => r.id,
};

export function handleListModels(core: HubCore, ctx: Ctx): void {
  const q = ctx.url.searchParams;
  const { modelsPageSize } = core.settings;
  const filters = q.getAll("filter");
  const author = q.get("author");
  const search = q.get("search")?.toLowerCase();
  const limit = Math.max(1, Math.min(Number(q.get("limit") ?? modelsPageSize) || modelsPageSize, modelsPageSize));
  const cursor = Number(q.get("cursor") ?? 0) || 0;
  const sort = q.get("sort");
  const key = sort ? SORT_KEYS[sort] : undefined;
  if (sort && !key) throw new HttpError(400, `Invalid sort key "${sort}"`);
  // The Hub sorts descending unless direction=1 is asked for.
  const direction = q.get("direction") === "1" ? 1 : -1;
  const matches = core.store
    .all()
    .filter((r) => !r.private || core.canSeePrivate(r, ctx))
    .filter((r) => !author || r.id.split("/")[0] === author)
    .filter((r) => !search || r.id.toLowerCase().includes(search))
    .map((r) => ({ r, commit: core.store.resolve(r, "main")! }))
    .filter(({ r, commit }) => {
      const tags = core.tagsOf(r, commit);
      return filters.every((f) => tags.includes(f));
    })
    .sort((a, b) => {
      if (key) {
        const x = key(a.r, a.commit);
        const y = key(b.r, b.commit);
        if (x !== y) return (x < y ? -1 : 1) * direction;
      }
      return a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0;
    });
  const page = matches.slice(cursor, cursor + limit);
  sendJson(
    ctx,
    200,
    page.map(({ r, commit }) => modelInfo(core, r, commit, expandParams(ctx.url))),
    nextPageHeader(ctx, cursor, limit, matches.length),
  );
}

function fileEntry(path: string, f: StoredFile): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: "file", oid: f.gitOid, size: f.size, path };
  if (f.lfs) entry.lfs = { oid: f.sha256, size: f.size, pointerSize: Buffer.byteLength(lfsPointer(f.sha256, f.size)) };
  return entry;
}

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

export function handleTree(core: HubCore, ctx: Ctx, repo: RepoState, rest: string[]): void {
  const commit = core.resolveRev(repo, rest[0]!);
  const path = rest.slice(1).join("/");
  if (path && !Object.keys(commit.files).some((p) => p.startsWith(`${path}/`))) throw new HttpError(404, `Entry not found`, "EntryNotFound");
  const recursive = ["true", "1"].includes(ctx.url.searchParams.get("recursive") ?? "");
  const entries = treeEntries(commit, path, recursive);
  const cursor = Number(ctx.url.searchParams.get("cursor") ?? 0) || 0;
  const { treePageSize } = core.settings;
  sendJson(ctx, 200, entries.slice(cursor, cursor + treePageSize), nextPageHeader(ctx, cursor, treePageSize, entries.length));
}

export async function handleCreateRepo(core: HubCore, ctx: Ctx): Promise<void> {
  const user = core.requireUser(ctx);
  const body = (await readJson(ctx.req)) as { name?: string; organization?: string; type?: string; private?: boolean; visibility?: string; files?: { path: string; content: string; encoding?: string }[] };
  if (body.type && body.type !== "model") throw new HttpError(400, `Only model repos are supported by the local Hub`);
  const id = `${body.organization ?? user}/${body.name ?? ""}`;
  if (!isValidRepoId(id)) throw new HttpError(400, `Invalid repo name "${id}"`);
  if (core.store.get(id)) {
    sendJson(ctx, 409, { error: "You already created this model repo", url: `${ctx.base}/${id}` });
    return;
  }
  const isPrivate = body.visibility ? body.visibility !== "public" : (body.private ?? false);
  const repo = core.store.createRepo(id, { private: isPrivate, author: user });
  core.emit({ scope: "repo", action: "create", repo });
  if (body.files?.length) {
    const changes: Record<string, StoredFile> = {};
    for (const f of body.files) changes[f.path] = core.store.storeFile(f.path, Buffer.from(f.content, f.encoding === "base64" ? "base64" : "utf8"));
    core.store.commit(repo, { branch: "main", title: "Upload files", description: "", author: user, changes });
  }
  sendJson(ctx, 200, { url: `${ctx.base}/${id}`, name: id, id: repo.internalId });
}

/** Renames a repo and tells webhooks (`repo`/`move` with `movedTo`). Shared by the HTTP route and the admin API. */
export function moveRepo(core: HubCore, from: string, to: string): RepoState {
  if (!isValidRepoId(to)) throw new HttpError(400, `Invalid repo name "${to}"`);
  if (core.store.get(to)) throw new HttpError(409, `Repository ${to} already exists`);
  const repo = core.store.rename(from, to);
  core.emit({ scope: "repo", action: "move", repo, movedFrom: from });
  return repo;
}

/** `POST /api/repos/move {fromRepo, toRepo, type}` as huggingface_hub's `move_repo` sends it. */
export async function handleMoveRepo(core: HubCore, ctx: Ctx): Promise<void> {
  const user = core.requireUser(ctx);
  const body = (await readJson(ctx.req)) as { fromRepo?: string; toRepo?: string; type?: string };
  if (body.type && body.type !== "model") throw new HttpError(400, `Only model repos are supported by the local Hub`);
  const repo = core.getRepoOr404(String(body.fromRepo ?? ""), ctx);
  if (repo.id.split("/")[0] !== user) throw new HttpError(403, `You cannot move ${repo.id}`);
  moveRepo(core, repo.id, String(body.toRepo ?? ""));
  sendJson(ctx, 200, {});
}

export function handleWhoAmI(core: HubCore, ctx: Ctx): void {
  const user = core.requireUser(ctx);
  sendJson(ctx, 200, { type: "user", id: user, name: user, fullname: user, orgs: [], auth: { type: "access_token", accessToken: { displayName: "local", role: "write" } } });
}
