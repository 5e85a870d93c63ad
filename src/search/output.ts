import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { renderPng, renderSvg } from "./plot.js";
import { validateSearchReport, type SearchReport } from "./schema.js";

/** Writes search.json, search.svg and search.png into `dir` (each atomically). */
export async function writeSearchOutputs(dir: string, report: SearchReport): Promise<{ json: string; svg: string; png: string }> {
  validateSearchReport(report);
  const paths = { json: join(dir, "search.json"), svg: join(dir, "search.svg"), png: join(dir, "search.png") };
  const svg = renderSvg(report);
  await writeFileAtomic(paths.json, JSON.stringify(report, null, 1) + "\n");
  await writeFileAtomic(paths.svg, svg);
  await writeFileAtomic(paths.png, renderPng(svg));
  return paths;
}
