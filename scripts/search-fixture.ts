/**
 * Regenerates src/publish/fixtures/search-report.json, the search.json the rendered examples
 * (docs/examples) are made from: a simulated grid search (numbers are SIMULATED, not a real
 * model's), with a short token limit so that some answers are cut and the table shows it.
 *   npx tsx scripts/search-fixture.ts
 */
import { fileURLToPath } from "node:url";
import { runSearch } from "../src/search/search.js";
import { Simulation, SimulatedGenerator, SimulatedMaterializer, SimulatedScorer, simulatedPrompts } from "../src/search/simulate.js";
import { writeFileAtomic } from "../src/util/atomic.js";

const sim = new Simulation({ curve: { peak: 0.3, height: 0.6 }, seed: 7, promptSd: 1, noiseSd: 0.6, baseTokens: 240 });
const report = await runSearch({
  prompts: simulatedPrompts(85, "uf"),
  promptSource: "ultrafeedback-heldout",
  generator: new SimulatedGenerator(sim),
  scorer: new SimulatedScorer(sim),
  materializer: new SimulatedMaterializer(),
  models: {
    sft: { path: "HuggingFaceH4/mistral-7b-sft-beta", revision: "8c4ab7c5f3b6a1d2e9f0a1b2c3d4e5f60718293a" },
    aligned: { path: "HuggingFaceH4/zephyr-7b-beta", revision: "b70e0c9a2d9e14bd1e812d3c398e5f313e93b473" },
  },
  sampling: { maxTokens: 400 },
  strategy: { kind: "grid", alphas: [0.1, 0.2, 0.3, 0.5, 1] },
  sanityPrompts: 32,
  statistics: { bootstrapResamples: 2000 },
  now: () => new Date("2026-11-27T12:00:00.000Z"),
});
report.cost.seconds = 0.05;
const path = fileURLToPath(new URL("../src/publish/fixtures/search-report.json", import.meta.url));
await writeFileAtomic(path, JSON.stringify(report, null, 1) + "\n");
console.log(`wrote ${path}: decision ${report.decision.kind === "alpha" ? `α=${report.decision.alpha}` : "no gain"}`);
