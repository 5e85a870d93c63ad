import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores here and in CI: more forks only thrash.
    maxWorkers: 2,
  },
});
