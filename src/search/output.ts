import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { renderPng, renderSvg } from "./plot.js";
import { validateSearchReport, type SearchReport } from "./schema.js";

/** Writes search.json, alpha-curve.svg and alpha-curve.png (the names the publisher looks for beside search.json) into `dir` (each atomically). */
export async function writeSearchOutputs(dir: string, report: SearchReport): Promise<{ json: string; svg: string; png: string }> {
  validateSearchReport(report);
  const paths = { json: join(dir, "search.json"), svg: join(dir, "alpha-curve.svg"), png: join(dir, "alpha-curve.png") };
  const svg = renderSvg(report);
  await writeFileAtomic(paths.json, JSON.stringify(report, null, 1) + "\n");
  await writeFileAtomic(paths.svg, svg);
  await writeFileAtomic(paths.png, renderPng(svg));
  return paths;
}
