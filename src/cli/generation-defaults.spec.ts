import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generationDefaults } from "./generate.js";

const dir = await mkdtemp(join(tmpdir(), "gen-defaults-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("generate's defaults from generation_config.json (as transformers reads it)", () => {
  it("sampling fields apply with do_sample: true; without it decoding is greedy; no file, no defaults", async () => {
    await writeFile(join(dir, "generation_config.json"), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.9, top_k: 20, max_new_tokens: 64 }));
    expect(await generationDefaults(dir)).toEqual({ temperature: 0.6, topP: 0.9, topK: 20, maxNewTokens: 64 });
    await writeFile(join(dir, "generation_config.json"), JSON.stringify({ temperature: 0.6, max_new_tokens: 32 }));
    expect(await generationDefaults(dir)).toEqual({ maxNewTokens: 32, greedy: true });
    expect(await generationDefaults(join(dir, "none"))).toEqual({});
  });
});
