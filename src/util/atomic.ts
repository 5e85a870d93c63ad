import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** A sibling name for in-progress output; same folder so the final rename is atomic. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
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
