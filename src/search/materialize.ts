/**
 * The model folders the search generates with: θ1 itself for α = 0, else
 * θ2 = θ1 + α(θ1 − θ0) written by an injected extrapolation function (src/expo's
 * `extrapolate` in the CLI; a fake in tests). Also the revision fingerprint of a local folder,
 * which keys the result cache.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { alphaKey } from "./cache.js";
import type { MaterializedModel, ModelMaterializer } from "./types.js";

export type ExtrapolateFn = (options: { sft: string; aligned: string; alpha: number; out: string; overwrite?: boolean; merge?: boolean }) => Promise<unknown>;

export interface FolderMaterializerOptions {
  sft: string;
  aligned: string;
  /** Where the α folders are written (one per α, deleted on release unless `keep`). */
  workDir: string;
  extrapolate: ExtrapolateFn;
  keep?: boolean;
  /**
   * θ1 is a LoRA adapter: "merge" writes a merged full model per α, α = 0 included (engines
   * that load one folder; the search's embedded engine needs none, it applies α in place); "adapter" writes the scaled adapter per α and gives θ1's own
   * adapter folder for α = 0 (engines that serve adapters by name).
   */
  adapter?: "merge" | "adapter";
}

export class FolderMaterializer implements ModelMaterializer {
  /** Extrapolations run (for reports and tests). */
  writes = 0;
  constructor(private readonly options: FolderMaterializerOptions) {}

  async materialize(alpha: number): Promise<MaterializedModel> {
    const merge = this.options.adapter === "merge";
    if (alpha === 0 && !merge) return { dir: this.options.aligned };
    const out = join(this.options.workDir, `alpha-${alphaKey(alpha)}`);
    // extrapolate() renames a finished folder into place, so an existing one is complete.
    const done = async (f: string) => stat(join(out, f)).then(() => true, () => false);
    const exists = (await done("config.json")) || (await done("adapter_config.json"));
    if (!exists) {
      await this.options.extrapolate({ sft: this.options.sft, aligned: this.options.aligned, alpha, out, overwrite: true, ...(merge ? { merge: true } : {}) });
      this.writes++;
    }
    return {
      dir: out,
      release: this.options.keep ? undefined : () => rm(out, { recursive: true, force: true }),
    };
  }
}

/**
 * For a generator that switches α itself (EmbeddedGenerator with `pair`): nothing is written;
 * every α names θ1's folder and the generator applies α to its loaded weights.
 */
export class InPlaceMaterializer implements ModelMaterializer {
  /** Always 0: kept so reports can print it beside FolderMaterializer's. */
  readonly writes = 0;
  constructor(private readonly aligned: string) {}

  async materialize(_alpha: number): Promise<MaterializedModel> {
    return { dir: this.aligned };
  }
}

/**
 * A revision string for a local model folder: the Hub commit when the folder is a snapshot
 * (src/hub writes `.hub-snapshot.json`), else a hash of its files' names, sizes and mtimes.
 */
export async function folderRevision(dir: string): Promise<string> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, ".hub-snapshot.json"), "utf8")) as { repo?: string; commit?: string };
    if (manifest.commit) return `${manifest.repo ?? "hub"}@${manifest.commit}`;
  } catch {
    // not a snapshot
  }
  const hash = createHash("sha256");
  const names = (await readdir(dir)).filter((n) => /\.(safetensors|json)$/.test(n)).sort();
  for (const name of names) {
    const s = await stat(join(dir, name));
    hash.update(`${name}\u0000${s.size}\u0000${Math.round(s.mtimeMs)}\n`);
  }
  return `local:${hash.digest("hex").slice(0, 16)}`;
}
