import { Resvg } from "@resvg/resvg-js";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSearchOutputs } from "./output.js";
import { renderPng, renderSvg, textRenders } from "./plot.js";
import { runSearch } from "./search.js";
import { Simulation, SimulatedGenerator, SimulatedMaterializer, SimulatedScorer, simulatedPrompts } from "./simulate.js";

async function report(peak: number, height: number) {
  const sim = new Simulation({ curve: { peak, height }, seed: 3, promptSd: 1, noiseSd: 0.5 });
  return runSearch({
    prompts: simulatedPrompts(160, "plot"),
    generator: new SimulatedGenerator(sim),
    scorer: new SimulatedScorer(sim),
    materializer: new SimulatedMaterializer(),
    models: { sft: { path: "sft", revision: "a" }, aligned: { path: "dpo", revision: "b" } },
    statistics: { bootstrapResamples: 200 },
  });
}

/** Tag balance of an XML document without a parser dependency. */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0;
}

describe("plot", () => {
  it("labels the widest α the search reached, even where labels crowd", async () => {
    const r = await report(0.3, 1);
    const widest = Math.max(...r.alphas.map((a) => a.alpha));
    const svg = renderSvg(r);
    expect(svg).toMatch(new RegExp(`font-size="11"[^>]*>${String(widest).replace(".", "\\.")}</text>`));
  });

  it("writes a well-formed SVG with labelled axes, α = 0 and the chosen α marked", async () => {
    const r = await report(0.3, 1);
    expect(r.decision.kind).toBe("alpha");
    const svg = renderSvg(r);
    expect(wellFormed(svg)).toBe(true);
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg).toContain("mean reward (95 % CI)");
    expect(svg).toContain("mean answer length, tokens");
    expect(svg).toContain("α (extrapolation strength");
    expect(svg).toContain("α = 0 (θ1)");
    expect(svg).toMatch(/chosen α = 0\.\d+: gain [\d.]+ \[[\d.-]+, [\d.]+\] over α = 0 on 40 held-out prompts/);
    // The prompts each α saw, along the top of the reward panel (α = 0's count first).
    const zero = r.alphas.find((a) => a.alpha === 0)!;
    expect(svg).toContain(`fill="#666">${zero.n}</text>`);
    expect(() => new Resvg(svg)).not.toThrow(); // resvg parses it
  });

  it("renders text with the machine's fonts and writes the PNG beside search.json", async () => {
    expect(textRenders(), "resvg found no system font to draw text (install fonts-dejavu-core)").toBe(true);
    const r = await report(0, 0);
    expect(r.decision.kind).toBe("no-gain");
    expect(renderSvg(r)).toContain("no gain");
    const dir = await mkdtemp(join(tmpdir(), "expo-plot-"));
    try {
      const paths = await writeSearchOutputs(dir, r);
      const png = await readFile(paths.png);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.readUInt32BE(16)).toBe(1520); // width: 2× the 760 px SVG
      expect(JSON.parse(await readFile(paths.json, "utf8")).schema).toBe("expo-bot/search");
      expect(paths.svg.endsWith("alpha-curve.svg")).toBe(true);
      expect(renderPng(await readFile(paths.svg, "utf8"), { width: 380 }).length).toBeGreaterThan(1000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
