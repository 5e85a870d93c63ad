/**
 * Regenerates docs/examples/model-card.md, model-card-adapter.md and result-comment.md from
 * src/publish/fixtures/search-report.json:   npx tsx scripts/render-examples.ts
 * With --check, exits 1 (writing nothing) when the committed files are out of date.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderExamples } from "../src/publish/examples.js";
import { writeFileAtomic } from "../src/util/atomic.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const check = process.argv.includes("--check");
let stale = 0;
for (const [path, content] of Object.entries(renderExamples())) {
  let current: string | null = null;
  try {
    current = readFileSync(root + path, "utf8");
  } catch {
    current = null;
  }
  if (current === content) continue;
  if (check) {
    console.error(`${path} is out of date: run npx tsx scripts/render-examples.ts`);
    stale++;
  } else {
    await writeFileAtomic(root + path, content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale > 0 ? 1 : 0);
