/**
 * Where a model folder came from: θ1 and θ0 (Hub ids and revisions) and α, read from the
 * provenance file the extrapolation writes into its output folder (`expo_provenance.json`,
 * src/expo/extrapolate.ts: `sources: { aligned: {path, repo?, revision?}, sft: {…} }`,
 * `alpha`). The reader also accepts `theta1`/`theta0` and `id`/`sha` spellings so that
 * publishing does not break on small changes upstream. A source is only taken as a Hub id
 * from `repo`/`id`, or from `path` when that is not a folder on this machine.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.js";
import { isRepoId } from "./naming.js";
import type { SourceModel } from "./types.js";

/** File names tried, in order. */
export const PROVENANCE_FILES = ["expo_provenance.json", "expo-provenance.json", "provenance.json"];

export interface Provenance {
  file: string;
  theta1?: SourceModel;
  theta0?: SourceModel;
  alpha?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function source(value: unknown): SourceModel | undefined {
  if (typeof value === "string") {
    const [id, revision] = value.split("@");
    return id && isRepoId(id) ? { id, revision: revision || "main" } : undefined;
  }
  if (!isObject(value)) return undefined;
  const named = [value.repo, value.id].find((v): v is string => typeof v === "string" && isRepoId(v));
  const fromPath = typeof value.path === "string" && isRepoId(value.path) && !existsSync(value.path) ? value.path : undefined;
  const id = named ?? fromPath;
  if (!id) return undefined;
  const revision = [value.revision, value.sha, value.commit].find((v): v is string => typeof v === "string" && v.length > 0);
  return { id, revision: revision ?? "main" };
}

function pickSource(obj: Json, names: string[]): SourceModel | undefined {
  for (const name of names) {
    const s = source(obj[name]);
    if (s) return s;
  }
  const sources = obj.sources;
  if (isObject(sources)) return pickSource(sources, names);
  return undefined;
}

/** Reads the provenance file of `dir` (null when there is none). */
export async function readProvenance(dir: string): Promise<Provenance | null> {
  for (const name of PROVENANCE_FILES) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    let value: unknown;
    try {
      value = JSON.parse(await readFile(file, "utf8"));
    } catch (err) {
      throw new UserError(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
    return parseProvenance(value, file);
  }
  return null;
}

/** The sources and α of a parsed provenance document (`file` names it in errors). */
export function parseProvenance(value: unknown, file: string): Provenance {
  if (!isObject(value)) throw new UserError(`${file}: expected a JSON object`);
  const out: Provenance = { file };
  const t1 = pickSource(value, ["theta1", "aligned", "model", "θ1"]);
  const t0 = pickSource(value, ["theta0", "sft", "base", "θ0"]);
  if (t1) out.theta1 = t1;
  if (t0) out.theta0 = t0;
  const alpha = value.alpha ?? (isObject(value.plan) ? value.plan.alpha : undefined);
  if (typeof alpha === "number" && Number.isFinite(alpha)) out.alpha = alpha;
  return out;
}
