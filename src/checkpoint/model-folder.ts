/**
 * The non-weight files of an output model folder. For ExPO they come from θ1 (the aligned
 * model), not θ0: θ1's tokenizer, chat template, generation config and licence are the ones
 * the extrapolated model is used with (mergekit copies them from the base model, which is
 * wrong here).
 */
import { copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { FloatDtype } from "../safetensors/dtype.js";
import { torchDtypeName } from "../safetensors/dtype.js";
import { UserError } from "../util/errors.js";

/** Weight formats: never copied (the output's weights are written by the executor). */
const WEIGHT_FILE = /(\.safetensors|\.safetensors\.index\.json|\.bin|\.bin\.index\.json|\.pt|\.pth|\.ckpt|\.h5|\.msgpack|\.gguf|\.onnx|\.onnx_data)$/i;
/** Written fresh for the output (adapter_config.json: scaled, or absent from a merged model). */
const NOT_COPIED = new Set(["README.md", "config.json", "expo_provenance.json", "adapter_config.json"]);

export const PROVENANCE_FILE = "expo_provenance.json";

/** Which top-level files of a source folder an output copies: everything but weights, the card and hidden files. */
export function sideFilesToCopy(names: readonly string[]): string[] {
  return names.filter((n) => !n.startsWith(".") && !WEIGHT_FILE.test(n) && !NOT_COPIED.has(n)).sort();
}

/** Copies θ1's side files (tokenizer, chat template, generation config, licences, …) into `to`. */
export async function copySideFiles(from: string, to: string): Promise<string[]> {
  const entries = await readdir(from, { withFileTypes: true });
  const files = sideFilesToCopy(entries.filter((e) => e.isFile()).map((e) => e.name));
  for (const f of files) await copyFile(join(from, f), join(to, f));
  return files;
}

/**
 * θ1's config.json with its dtype entry set to the output's: `torch_dtype`, and `dtype` too
 * where the config uses the newer spelling. `dtype` null leaves the entry as it was
 * (mixed float dtypes in the output).
 */
export async function writeOutputConfig(from: string, to: string, dtype: FloatDtype | null): Promise<Record<string, unknown>> {
  const path = join(from, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UserError(`${path}: not found (is "${from}" a model folder?)`);
    throw err;
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) throw new UserError(`${path}: not a JSON object`);
  if (dtype) {
    const name = torchDtypeName(dtype);
    if ("dtype" in config) config.dtype = name;
    if ("torch_dtype" in config || !("dtype" in config)) config.torch_dtype = name;
  }
  await writeFile(join(to, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return config;
}

export interface SourceRef {
  /** The local folder read. */
  path: string;
  /** Hub repo id, where known. */
  repo?: string;
  /** Commit sha or revision, where known (a Hugging Face cache `snapshots/<sha>/` path gives it). */
  revision?: string;
}

/** Fills in the revision from a Hugging Face cache path (…/models--org--name/snapshots/<sha>/). */
export function describeSource(path: string, given: Partial<SourceRef> = {}): SourceRef {
  const m = /models--([^/]+?)--([^/]+)\/snapshots\/([0-9a-f]{40})\/?$/.exec(path.replace(/\\/g, "/"));
  return {
    path,
    ...(given.repo ? { repo: given.repo } : m ? { repo: `${m[1]}/${m[2]}` } : {}),
    ...(given.revision ? { revision: given.revision } : m ? { revision: m[3] } : {}),
  };
}

export function toolVersion(): string {
  try {
    const pkg = createRequire(import.meta.url)("../../package.json") as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}
