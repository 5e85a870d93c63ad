/**
 * A Hub model as a local folder, the way `from_pretrained` does it: downloaded once into a
 * cache, resumably (snapshotDownload), then reused; with HF_HUB_OFFLINE=1 only the cache is
 * read. Layout, mirroring huggingface_hub's so that people recognise it:
 *
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/…   the files (plain copies)
 *   <cache>/models--<owner>--<name>/refs/<revision>        the commit a branch/tag resolved to
 *
 * <cache> is $EXPO_BOT_CACHE, else $HF_HOME/expo-bot (HF_HOME defaulting to
 * ~/.cache/huggingface). Offline, huggingface_hub's own cache ($HF_HUB_CACHE, else
 * $HF_HOME/hub) is read as well, so models fetched by Python tools need no second download.
 * A snapshot is complete when its `.expo-complete` marker exists (written after the last file).
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { HubClient } from "./client.js";
import { HubOfflineError, HubTransferError } from "./errors.js";
import { getModelInfo } from "./model-info.js";
import type { RepoRef } from "./repo-ref.js";
import { snapshotDownload } from "./snapshot-download.js";

const COMPLETE = ".expo-complete";
const SHA = /^[0-9a-f]{40}$/;

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HOME?.trim() || join(env.XDG_CACHE_HOME?.trim() || join(homedir(), ".cache"), "huggingface");
}

/** Where this tool caches downloaded models. */
export function modelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EXPO_BOT_CACHE?.trim() || join(hfHome(env), "expo-bot");
}

/** huggingface_hub's cache (read when offline). */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HUB_CACHE?.trim() || env.HUGGINGFACE_HUB_CACHE?.trim() || join(hfHome(env), "hub");
}

const repoFolder = (root: string, repo: string) => join(root, `models--${repo.replace("/", "--")}`);

async function readRef(repoDir: string, revision: string): Promise<string | undefined> {
  if (SHA.test(revision)) return revision;
  const text = await readFile(join(repoDir, "refs", revision), "utf8").catch(() => undefined);
  return text && SHA.test(text.trim()) ? text.trim() : undefined;
}

/** A complete cached snapshot of `ref`, or undefined. `strict`: only ours (marker checked). */
async function findCached(roots: { dir: string; ours: boolean }[], ref: RepoRef): Promise<{ dir: string; commit: string } | undefined> {
  for (const root of roots) {
    const repoDir = repoFolder(root.dir, ref.repo);
    const commit = await readRef(repoDir, ref.revision ?? "main");
    if (!commit) continue;
    const dir = join(repoDir, "snapshots", commit);
    if (root.ours ? existsSync(join(dir, COMPLETE)) : existsSync(join(dir, "config.json"))) return { dir, commit };
  }
  return undefined;
}

export interface CachedModelParams {
  client: HubClient;
  ref: RepoRef;
  /** Default modelCacheDir(). */
  cacheDir?: string;
  showProgress?: boolean;
  /** Notes for the user (a cached copy used because the Hub is unreachable). */
  log?: (line: string) => void;
}

export interface CachedModel {
  dir: string;
  repo: string;
  commit: string;
  /** Bytes fetched by this call (0 when the cache had everything). */
  bytesDownloaded: number;
}

/** The folder of `ref` at one commit, downloading what the cache lacks. */
export async function cachedModel(params: CachedModelParams): Promise<CachedModel> {
  const { client, ref } = params;
  const root = params.cacheDir ?? modelCacheDir();
  const revision = ref.revision ?? "main";
  const roots = [{ dir: root, ours: true }, { dir: hfHubCacheDir(), ours: false }];
  if (client.offline) {
    const hit = await findCached(roots, ref);
    if (hit) return { dir: hit.dir, repo: ref.repo, commit: hit.commit, bytesDownloaded: 0 };
    throw new HubOfflineError(`HF_HUB_OFFLINE is set and ${ref.repo}@${revision} is not in the cache (${repoFolder(root, ref.repo)}); download it once online, or pass a local folder`, { ctx: { op: "cache", repo: ref.repo, revision } });
  }
  // A commit is immutable: a complete copy needs no request at all.
  if (SHA.test(revision)) {
    const hit = await findCached([roots[0]!], ref);
    if (hit) return { dir: hit.dir, repo: ref.repo, commit: hit.commit, bytesDownloaded: 0 };
  }
  let commit: string;
  try {
    commit = SHA.test(revision) ? revision : (await getModelInfo({ client, repo: ref.repo, revision })).sha;
  } catch (err) {
    const hit = err instanceof HubTransferError ? await findCached(roots, ref) : undefined;
    if (!hit) throw err;
    params.log?.(`${ref.repo}@${revision}: the Hub is unreachable; using the cached copy at commit ${hit.commit.slice(0, 7)}`);
    return { dir: hit.dir, repo: ref.repo, commit: hit.commit, bytesDownloaded: 0 };
  }
  const repoDir = repoFolder(root, ref.repo);
  const dir = join(repoDir, "snapshots", commit);
  let bytesDownloaded = 0;
  if (!existsSync(join(dir, COMPLETE))) {
    const r = await snapshotDownload({ client, repo: ref.repo, revision: commit, dir, showProgress: params.showProgress });
    bytesDownloaded = r.bytesDownloaded;
    await writeFile(join(dir, COMPLETE), `${new Date().toISOString()}\n`);
  }
  if (!SHA.test(revision)) {
    await mkdir(join(repoDir, "refs", ...revision.split("/").slice(0, -1)), { recursive: true });
    await writeFile(join(repoDir, "refs", revision), commit);
  }
  return { dir, repo: ref.repo, commit, bytesDownloaded };
}
