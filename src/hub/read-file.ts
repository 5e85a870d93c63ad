/** Reading small repo files (config.json, tokenizer.json, README.md) as text or JSON. */
import { downloadFile } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { encodeRepoPath, resolveUrl } from "./resolve-url.js";
import { HubError, HubNotFoundError, toHubError } from "./errors.js";

export interface ReadFileParams {
  client: HubClient;
  repo: string;
  path: string;
  revision?: string;
  /** Refuse files bigger than this (default 64 MB: tokenizer.json of large vocabularies is ~10–30 MB). */
  maxBytes?: number;
  /** Known size (from a listing): saves the size probe, so the read is one request. */
  size?: number;
}

/** The file as UTF-8 text, or null when the file does not exist at that revision. */
export async function readTextFile(params: ReadFileParams): Promise<string | null> {
  const { client, repo, path, revision } = params;
  const maxBytes = params.maxBytes ?? 64_000_000;
  const ctx = { op: "read file", repo, revision, path };
  try {
    const downloadInfo =
      params.size !== undefined ? { size: params.size, etag: "", url: resolveUrl({ hubUrl: client.hubUrl, repo, revision, path }) } : undefined;
    const blob = await downloadFile({ ...client.credentials(), repo, path: encodeRepoPath(path), revision, xet: false, downloadInfo });
    if (!blob) return null;
    if (blob.size > maxBytes) throw new HubError(`read file: ${repo} file "${path}" is ${blob.size} bytes, over the ${maxBytes}-byte limit for small files`, { ctx });
    return await blob.text();
  } catch (err) {
    throw toHubError(err, ctx, client.errorHeaders);
  }
}

/** Like readTextFile, but throws HubNotFoundError when the file is missing. */
export async function readRequiredTextFile(params: ReadFileParams): Promise<string> {
  const text = await readTextFile(params);
  if (text === null) throw new HubNotFoundError(`read file: ${params.repo}${params.revision ? `@${params.revision}` : ""} has no file "${params.path}"`, { status: 404, ctx: { op: "read file", repo: params.repo, path: params.path, revision: params.revision }, code: "EntryNotFound" });
  return text;
}

/** The file parsed as JSON, or null when missing. Invalid JSON is a HubError naming the file. */
export async function readJsonFile<T = unknown>(params: ReadFileParams): Promise<T | null> {
  const text = await readTextFile(params);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new HubError(`read file: ${params.repo} file "${params.path}" is not valid JSON (${(err as Error).message})`, { ctx: { op: "read file", repo: params.repo, path: params.path, revision: params.revision }, cause: err });
  }
}
