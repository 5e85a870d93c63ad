import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores here and in CI: more forks only thrash.
    maxWorkers: 2,
    // Tests talk to a local Hub on 127.0.0.1: a developer's HF_HUB_OFFLINE=1 (which the Hub
    // client honours) must not turn them into offline runs; tests that want it set it.
    env: { HF_HUB_OFFLINE: "" },
    // In CI, also a JSON report, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: process.env.CI ? { json: ".tmp/test-results.json" } : undefined,
  },
});
