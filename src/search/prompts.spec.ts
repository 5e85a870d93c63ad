import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../util/errors.js";
import { parquet } from "./spec-parquet.js";
import { asyncBufferFromByteSource, findUltraFeedbackFile, promptsFromFile, promptsFromJsonl, promptsFromParquet, seededSubset, ultraFeedbackPrompts } from "./prompts.js";

function memoryBuffer(bytes: Buffer) {
  const reads: [number, number][] = [];
  const source = {
    async read(offset: number, length: number) {
      reads.push([offset, length]);
      return new Uint8Array(bytes.subarray(offset, offset + length));
    },
  };
  return { file: asyncBufferFromByteSource(source, bytes.length), reads };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "expo-prompts-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("prompt sets", () => {
  it("reads UltraFeedback-shaped parquet (prompt, prompt_id) through a byte-range reader", async () => {
    const bytes = parquet({ prompt: ["How do I bake bread?", "Write a poem about rain.", "Explain DPO."], prompt_id: ["a1", "b2", "c3"], other: ["x", "y", "z"] });
    const { file, reads } = memoryBuffer(bytes);
    const prompts = await ultraFeedbackPrompts(file);
    expect(prompts).toEqual([
      { id: "a1", text: "How do I bake bread?" },
      { id: "b2", text: "Write a poem about rain." },
      { id: "c3", text: "Explain DPO." },
    ]);
    expect(reads.length).toBeGreaterThan(0);
    // Only ranged reads: never the whole file in one go from offset 0 beyond what is needed.
    expect(reads.every(([o, l]) => o >= 0 && o + l <= bytes.length)).toBe(true);
  });

  it("reads local parquet and JSONL files; finds the prompt field or the first user turn", async () => {
    const pq = join(dir, "p.parquet");
    await writeFile(pq, parquet({ instruction: ["one", "two"] }));
    expect((await promptsFromFile(pq)).map((p) => p.text)).toEqual(["one", "two"]);
    const jl = join(dir, "p.jsonl");
    await writeFile(jl, [
      JSON.stringify({ prompt: "first" }),
      JSON.stringify({ messages: [{ role: "system", content: "sys" }, { role: "user", content: "second" }, { role: "assistant", content: "a" }] }),
      JSON.stringify("third"),
      "",
      JSON.stringify({ prompt: "first" }), // duplicate: kept once
    ].join("\n"));
    const prompts = await promptsFromFile(jl);
    expect(prompts.map((p) => p.text)).toEqual(["first", "second", "third"]);
    expect(prompts[0].id).toMatch(/^[0-9a-f]{16}$/);
  });

  it("names the file and line of bad input", async () => {
    expect(() => promptsFromJsonl('{"prompt": "ok"}\n{oops', { source: "x.jsonl" })).toThrow(/x\.jsonl:2: not JSON/);
    expect(() => promptsFromJsonl('{"foo": 1}', { source: "x.jsonl" })).toThrow(/x\.jsonl: row 1 has no prompt/);
    await expect(promptsFromFile(join(dir, "missing.jsonl"))).rejects.toThrow(UserError);
    await expect(promptsFromParquet(memoryBuffer(Buffer.from("not parquet at all")).file, { source: "bad.parquet" })).rejects.toThrow(/bad\.parquet: not a readable parquet file/);
  });

  it("takes a deterministic seeded subset whose order does not depend on the rest of the set", () => {
    const all = Array.from({ length: 100 }, (_, i) => ({ id: `p${i}`, text: `t${i}` }));
    const a = seededSubset(all, 10, 42);
    expect(seededSubset([...all].reverse(), 10, 42)).toEqual(a);
    expect(seededSubset(all, 10, 43)).not.toEqual(a);
    // Growing N keeps the smaller subset as a prefix (so cached answers are reused).
    expect(seededSubset(all, 20, 42).slice(0, 10)).toEqual(a);
  });

  it("finds the test_gen parquet file in a dataset listing", () => {
    expect(findUltraFeedbackFile(["README.md", "data/train_prefs-00000-of-00001.parquet", "data/test_gen-00000-of-00001-3d4cd8309148a71f.parquet"])).toBe(
      "data/test_gen-00000-of-00001-3d4cd8309148a71f.parquet",
    );
    expect(findUltraFeedbackFile(["data/test_gen-00000-of-00001.parquet"])).toBe("data/test_gen-00000-of-00001.parquet");
  });
});
