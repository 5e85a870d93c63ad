/**
 * The rendered examples under docs/examples/, from a fixed fixture (the search's own
 * search.json schema, simulated numbers), so a reviewer can read a card and a comment and
 * `scripts/render-examples.ts` can regenerate them byte for byte (examples.spec.ts checks).
 */
import { readFileSync } from "node:fs";
import { renderModelCard } from "./card.js";
import { renderResultComment } from "./comments.js";
import { checkLicence } from "./licence.js";
import { normalizeSearchReport } from "./report.js";

export const EXAMPLES_FIXTURE = new URL("./fixtures/search-report.json", import.meta.url);

/** Repo-relative path → content. */
export function renderExamples(): Record<string, string> {
  const search = normalizeSearchReport(JSON.parse(readFileSync(EXAMPLES_FIXTURE, "utf8")), "src/publish/fixtures/search-report.json");
  search.plots = { svg: "alpha-curve.svg", png: "alpha-curve.png" };
  const theta1 = { id: search.aligned!.path, revision: search.aligned!.revision };
  const theta0 = { id: search.sft!.path, revision: search.sft!.revision };
  const licence = { license: "mit" };
  const repo = "expo-bot/zephyr-7b-beta-ExPO";
  const runUrl = "https://github.com/expo-bot/expo-bot/actions/runs/123456789";
  const card = renderModelCard({
    repoId: repo,
    theta1,
    theta0,
    search,
    licence,
    licenceFiles: ["LICENSE"],
    notices: checkLicence(licence, "θ1").notices,
    runUrl,
    botVersion: "0.1.0",
  });
  const comment = renderResultComment({
    theta1: { id: theta1.id },
    rows: search.rows,
    chosenAlpha: search.chosenAlpha,
    model: { repo, commit: "3f9c2e1a7b5d4c6e8f0a1b2c3d4e5f6a7b8c9d0e" },
    plotUrl: `https://huggingface.co/${repo}/resolve/main/alpha-curve.png`,
    runUrl,
    requestId: "req-2026-11-27-0001",
    confidence: search.confidence,
    reported: search.reported,
    sanity: search.sanity,
    verdict: { verdict: "pass", reasons: [] },
  });
  // The same search for θ1 published as a LoRA adapter (r = 16, lora_alpha 32, 224 modules).
  const factor = 1 + (search.chosenAlpha ?? 0);
  const adapterCard = renderModelCard({
    repoId: "expo-bot/zephyr-7b-dpo-qlora-ExPO",
    theta1: { id: "alignment-handbook/zephyr-7b-dpo-qlora", revision: theta1.revision },
    theta0,
    search,
    licence,
    notices: checkLicence(licence, "θ1").notices,
    runUrl,
    botVersion: "0.1.0",
    adapter: { r: 16, loraAlpha: { theta1: 32, output: 32 * factor }, useRslora: false, hasAlphaPattern: false, factor, modules: 224, fullTensors: 0, scaleTheta1: 2, hasTokenizer: true },
  });
  return { "docs/examples/model-card.md": card, "docs/examples/result-comment.md": comment, "docs/examples/model-card-adapter.md": adapterCard };
}
