import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** A sibling name for in-progress output; same folder so the final rename is atomic. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

const TEMPORARY_RE = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes, under `dir` (recursively), the temporary outputs (`temporarySibling` names) whose
 * owning process is gone: what a killed process (`kill -9`, a lost runner) left half-built.
 * A temporary name carries its owner's pid, so a live writer's work is never touched.
 * Returns the paths removed.
 */
export async function removeAbandonedTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    const m = TEMPORARY_RE.exec(e.name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) {
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } else if (e.isDirectory()) removed.push(...(await removeAbandonedTemporaries(path)));
  }
  return removed;
}

/** Writes a file under a temporary name and renames it into place, so readers never see half of it. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Builds a folder under a temporary sibling name and renames it into place when `build`
 * succeeds; on failure the temporary folder is removed and `path` is left as it was.
 * Refuses to replace an existing non-empty folder unless `overwrite` is set.
 */
export async function buildDirectoryAtomic<T>(
  path: string,
  build: (tmpDir: string) => Promise<T>,
  options: { overwrite?: boolean } = {},
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  await mkdir(tmp);
  try {
    const result = await build(tmp);
    if (options.overwrite) await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
