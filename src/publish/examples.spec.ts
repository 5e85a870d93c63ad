import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderExamples } from "./examples.js";

describe("docs/examples", () => {
  it("are what scripts/render-examples.ts renders from the fixture (run it after changing a template)", () => {
    for (const [path, content] of Object.entries(renderExamples())) {
      expect(readFileSync(new URL(`../../${path}`, import.meta.url), "utf8"), path).toBe(content);
    }
  });
});
