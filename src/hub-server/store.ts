/**
 * File-backed storage for the local Hub: content-addressed blobs (by sha256) under
 * `<dir>/blobs/`, one JSON document per repo under `<dir>/repos/<owner>/<name>.json`
 * holding its commits, branches, flags and discussions. Every change is written atomically.
 *
 * Commits are immutable snapshots of the whole tree (path → blob), identified by a 40-hex
 * sha1 like git's; `main` is a branch pointing at one of them.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileSync, renameSync } from "node:fs";
import { parse as parseYaml } from "yaml";

export interface StoredFile {
  sha256: string;
  size: number;
  /** Stored as a Git LFS object (the tree then holds a pointer file). */
  lfs: boolean;
  /** Git blob oid of what the git tree holds: the file itself, or its LFS pointer. */
  gitOid: string;
}

export interface Commit {
  oid: string;
  parents: string[];
  title: string;
  description: string;
  author: string;
  date: string;
  files: Record<string, StoredFile>;
}

export interface DiscussionEvent {
  id: string;
  type: "comment";
  createdAt: string;
  author: string;
  content: string;
}

export interface Discussion {
  num: number;
  title: string;
  status: "open" | "closed";
  author: string;
  isPullRequest: boolean;
  createdAt: string;
  events: DiscussionEvent[];
}

export interface RepoState {
  id: string;
  internalId: string;
  private: boolean;
  gated: false | "auto" | "manual";
  /** Users granted access to a gated repo. */
  approved: string[];
  discussionsDisabled: boolean;
  /** Tags added by the admin API on top of those derived from the card. */
  extraTags: string[];
  createdAt: string;
  branches: Record<string, string>;
  commits: Record<string, Commit>;
  discussions: Discussion[];
  downloads: number;
  likes: number;
  /** Names this repo had before renames; they answer 307 to the current one. */
  movedFrom?: string[];
}

/** The `.gitattributes` the Hub puts in a new model repo (abridged to the common patterns). */
export const DEFAULT_GITATTRIBUTES = [
  "*.bin filter=lfs diff=lfs merge=lfs -text",
  "*.gguf filter=lfs diff=lfs merge=lfs -text",
  "*.h5 filter=lfs diff=lfs merge=lfs -text",
  "*.onnx filter=lfs diff=lfs merge=lfs -text",
  "*.pt filter=lfs diff=lfs merge=lfs -text",
  "*.pth filter=lfs diff=lfs merge=lfs -text",
  "*.safetensors filter=lfs diff=lfs merge=lfs -text",
  "*.zip filter=lfs diff=lfs merge=lfs -text",
  "*tfevents* filter=lfs diff=lfs merge=lfs -text",
  "",
].join("\n");

const LFS_SUFFIXES = [".bin", ".gguf", ".h5", ".onnx", ".pt", ".pth", ".safetensors", ".zip", ".png", ".jpg"];

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function gitBlobOid(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.byteLength}\0`).update(data).digest("hex");
}

export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

export function isValidRepoId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/.test(id) && !id.includes("..");
}

/** Whether the Hub would store this file with LFS: by pattern, size or binary content. */
export function wantsLfs(path: string, size: number, sample: Uint8Array, lfsThreshold: number): boolean {
  if (LFS_SUFFIXES.some((s) => path.toLowerCase().endsWith(s))) return true;
  if (size >= lfsThreshold) return true;
  return sample.includes(0);
}

export class HubStore {
  private readonly repos = new Map<string, RepoState>();

  constructor(
    readonly dir: string,
    readonly lfsThreshold: number,
  ) {
    mkdirSync(join(dir, "blobs"), { recursive: true });
    mkdirSync(join(dir, "repos"), { recursive: true });
    mkdirSync(join(dir, "incoming"), { recursive: true });
    this.load();
  }

  private load(): void {
    const root = join(this.dir, "repos");
    for (const owner of readdirSync(root)) {
      for (const file of readdirSync(join(root, owner))) {
        if (!file.endsWith(".json")) continue;
        const state = JSON.parse(readFileSync(join(root, owner, file), "utf8")) as RepoState;
        this.repos.set(state.id, state);
      }
    }
  }

  save(repo: RepoState): void {
    const [owner, name] = repo.id.split("/");
    const folder = join(this.dir, "repos", owner!);
    mkdirSync(folder, { recursive: true });
    const path = join(folder, `${name}.json`);
    const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
    writeFileSync(tmp, JSON.stringify(repo));
    renameSync(tmp, path);
  }

  get(id: string): RepoState | undefined {
    return this.repos.get(id);
  }

  /** The current name of a repo renamed away from `id`, if any (following chains of renames). */
  movedTo(id: string): string | undefined {
    if (this.repos.has(id)) return undefined;
    for (const repo of this.repos.values()) if (repo.movedFrom?.includes(id)) return repo.id;
    return undefined;
  }

  /** Renames a repo: its state moves to the new name, the old one is remembered for redirects. */
  rename(from: string, to: string): RepoState {
    const repo = this.repos.get(from);
    if (!repo) throw new Error(`no repo ${from}`);
    if (this.repos.has(to)) throw new Error(`repo ${to} exists`);
    const [owner, name] = from.split("/");
    repo.id = to;
    repo.movedFrom = [...(repo.movedFrom ?? []).filter((n) => n !== to), from];
    this.repos.delete(from);
    this.repos.set(to, repo);
    this.save(repo);
    rmSync(join(this.dir, "repos", owner!, `${name}.json`), { force: true });
    return repo;
  }

  all(): RepoState[] {
    return [...this.repos.values()];
  }

  blobPath(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`bad sha256 ${sha256}`);
    return join(this.dir, "blobs", sha256);
  }

  hasBlob(sha256: string): boolean {
    return /^[0-9a-f]{64}$/.test(sha256) && existsSync(this.blobPath(sha256));
  }

  /** A fresh path under `incoming/` for an upload being streamed to disk. */
  incomingPath(): string {
    return join(this.dir, "incoming", randomBytes(12).toString("hex"));
  }

  /** Moves a fully received and verified file into the blob store under its sha256. */
  adoptBlob(tmpPath: string, sha256: string): void {
    const path = this.blobPath(sha256);
    if (existsSync(path)) rmSync(tmpPath, { force: true });
    else renameSync(tmpPath, path);
  }

  putBlob(data: Uint8Array): string {
    const sha = sha256Hex(data);
    const path = this.blobPath(sha);
    if (!existsSync(path)) {
      const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
      writeFileSync(tmp, data);
      renameSync(tmp, path);
    }
    return sha;
  }

  readBlob(sha256: string): Buffer {
    return readFileSync(this.blobPath(sha256));
  }

  blobSize(sha256: string): number {
    return statSync(this.blobPath(sha256)).size;
  }

  /** Bytes [start, start + length) of a blob, without reading the rest. */
  readBlobRange(sha256: string, start: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    const fd = openSync(this.blobPath(sha256), "r");
    try {
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, start + done);
        if (n === 0) break;
        done += n;
      }
      return done === length ? out : out.subarray(0, done);
    } finally {
      closeSync(fd);
    }
  }

  /** Describes content for a tree: stores the blob and decides LFS or regular. */
  storeFile(path: string, data: Uint8Array, forceLfs?: boolean): StoredFile {
    const sha256 = this.putBlob(data);
    const lfs = forceLfs ?? wantsLfs(path, data.byteLength, data.subarray(0, 512), this.lfsThreshold);
    const gitOid = lfs ? gitBlobOid(new TextEncoder().encode(lfsPointer(sha256, data.byteLength))) : gitBlobOid(data);
    return { sha256, size: data.byteLength, lfs, gitOid };
  }

  createRepo(id: string, options: { private?: boolean; author: string }): RepoState {
    const now = new Date().toISOString();
    const repo: RepoState = {
      id,
      internalId: randomBytes(12).toString("hex"),
      private: options.private ?? false,
      gated: false,
      approved: [],
      discussionsDisabled: false,
      extraTags: [],
      createdAt: now,
      branches: {},
      commits: {},
      discussions: [],
      downloads: 0,
      likes: 0,
    };
    this.repos.set(id, repo);
    // Part of creating the repo: listeners hear of the creation, not of this commit.
    this.commit(repo, {
      silent: true,
      branch: "main",
      title: "initial commit",
      description: "",
      author: options.author,
      changes: { ".gitattributes": this.storeFile(".gitattributes", new TextEncoder().encode(DEFAULT_GITATTRIBUTES), false) },
    });
    return repo;
  }

  /** Called after every commit (the server sends webhooks from here). */
  readonly commitListeners: Array<(repo: RepoState, branch: string, oldOid: string | null, commit: Commit) => void> = [];

  /** Applies changes (path → file, or null to delete) on top of a branch; returns the new commit. */
  commit(
    repo: RepoState,
    input: { branch: string; title: string; description: string; author: string; changes: Record<string, StoredFile | null>; silent?: boolean },
  ): Commit {
    const parentOid = repo.branches[input.branch];
    const parent = parentOid ? repo.commits[parentOid] : undefined;
    const files: Record<string, StoredFile> = { ...(parent?.files ?? {}) };
    for (const [path, file] of Object.entries(input.changes)) {
      if (file === null) {
        // Deleting a folder deletes everything under it, as the Hub does.
        delete files[path];
        for (const p of Object.keys(files)) if (p.startsWith(path.endsWith("/") ? path : `${path}/`)) delete files[p];
      } else files[path] = file;
    }
    const date = new Date().toISOString();
    const oid = createHash("sha1")
      .update(JSON.stringify({ parent: parentOid ?? null, files, title: input.title, date, nonce: randomBytes(8).toString("hex") }))
      .digest("hex");
    const commit: Commit = { oid, parents: parentOid ? [parentOid] : [], title: input.title, description: input.description, author: input.author, date, files };
    repo.commits[oid] = commit;
    repo.branches[input.branch] = oid;
    this.save(repo);
    if (!input.silent) for (const listener of this.commitListeners) listener(repo, input.branch, parentOid ?? null, commit);
    return commit;
  }

  /** Resolves a branch name, `HEAD`, or a full/short commit sha. */
  resolve(repo: RepoState, revision: string): Commit | undefined {
    const rev = revision === "HEAD" ? "main" : revision;
    const branch = repo.branches[rev];
    if (branch) return repo.commits[branch];
    if (/^[0-9a-f]{40}$/.test(rev)) return repo.commits[rev];
    if (/^[0-9a-f]{7,39}$/.test(rev)) {
      const matches = Object.keys(repo.commits).filter((oid) => oid.startsWith(rev));
      if (matches.length === 1) return repo.commits[matches[0]!];
    }
    return undefined;
  }

  /** The card's YAML front matter at a commit, or undefined. */
  cardData(commit: Commit): Record<string, unknown> | undefined {
    const readme = commit.files["README.md"];
    if (!readme) return undefined;
    const text = this.readBlob(readme.sha256).toString("utf8");
    const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
    if (!match) return undefined;
    try {
      const data = parseYaml(match[1]!) as unknown;
      return data && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  jsonFile(commit: Commit, path: string): Record<string, unknown> | undefined {
    const file = commit.files[path];
    if (!file || file.size > 10_000_000) return undefined;
    try {
      const data = JSON.parse(this.readBlob(file.sha256).toString("utf8")) as unknown;
      return data && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
}
