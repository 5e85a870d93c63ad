/** `npm run demo [-- --dir DIR --json]`: see src/demo/run-demo.ts. */
import { parseArgs } from "node:util";
import { runDemo } from "../src/demo/run-demo.js";

const { values } = parseArgs({ options: { dir: { type: "string", default: "demo-out" }, json: { type: "boolean", default: false }, strategy: { type: "string" } } });
const strategy = values.strategy === "grid" ? "grid" : "auto";
try {
  const outcome = await runDemo({ dir: values.dir!, strategy, log: values.json ? (line) => console.error(line) : undefined });
  if (values.json) {
    const { aligned, unrelated, seconds } = outcome;
    console.log(JSON.stringify({ synthetic: true, seconds, aligned: { state: aligned.state, chosenAlpha: aligned.result?.chosenAlpha, alphas: aligned.result?.alphas, published: aligned.result?.published, plots: aligned.plots }, unrelated: { state: unrelated.state, reasons: unrelated.reasons } }, null, 2));
  }
  process.exitCode = outcome.aligned.state === "published" && outcome.unrelated.state === "refused" ? 0 : 1;
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  // A job may still be running in this process (the demo dispatches in-process): stop here
  // rather than let it finish against a closed ledger and a stopped local Hub.
  process.exit(1);
}
