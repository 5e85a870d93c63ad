/**
 * A LoRA adapter θ1 on an external engine: one scaled adapter per α, loaded into the running
 * server by name (vLLM/SGLang's runtime LoRA loading) and asked for in each request's
 * `model` field; the server is never restarted. The server is a local stand-in that records
 * what it was asked.
 */
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { extrapolate } from "../expo/extrapolate.js";
import { writeTinyAdapter } from "../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../synthetic/tiny-model.js";
import { FolderMaterializer } from "./materialize.js";
import { OpenAIGenerator } from "./openai.js";
import { PAPER_SAMPLING } from "./types.js";

const root = await mkdtemp(join(tmpdir(), "expo-lora-serving-"));
let server: Server;
let base: string;
const loads: { lora_name: string; lora_path: string }[] = [];
const asked: string[] = [];
/** The stand-in engine answers longer the larger the loaded adapter's lora_alpha; the scorer rewards length. */
const alphaOf = new Map<string, number>();

beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "sft"), hiddenSize: 32, heads: 4, seed: 2 });
  await writeTinyAdapter({ base: join(root, "sft"), dir: join(root, "lora"), loraAlpha: 16 });
  server = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const b = text ? JSON.parse(text) : {};
    if (req.url === "/v1/load_lora_adapter") {
      loads.push(b);
      alphaOf.set(b.lora_name, JSON.parse(await readFile(join(b.lora_path, "adapter_config.json"), "utf8")).lora_alpha);
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`Success: LoRA adapter '${b.lora_name}' added successfully.`);
    }
    if (req.url === "/v1/chat/completions") {
      const known = loads.some((l) => l.lora_name === b.model);
      asked.push(b.model);
      res.writeHead(known ? 200 : 404, { "content-type": "application/json" });
      const words = Math.round(alphaOf.get(b.model) ?? 0) + (b.messages[0].content.length % 3);
      return res.end(JSON.stringify(known ? { choices: [{ message: { content: `answer from ${b.model}${" word".repeat(words)}` } }], usage: { completion_tokens: 3 + words } } : { error: `model ${b.model} not found` }));
    }
    if (req.url === "/score") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ scores: b.items.map((i: { response: string }) => i.response.split(" ").length) }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe("α search on an external engine with a LoRA θ1", () => {
  it("loads one scaled adapter per α by name and never restarts the server", async () => {
    const materializer = new FolderMaterializer({ sft: join(root, "sft"), aligned: join(root, "lora"), workDir: join(root, "work"), extrapolate: (o) => extrapolate(o), adapter: "adapter", keep: true });
    const gen = new OpenAIGenerator({ endpoint: base, lora: { baseDir: join(root, "sft"), loadPath: "/v1/load_lora_adapter" }, retries: 0 });
    for (const alpha of [0, 0.5, 1, 0.5, 0]) {
      const m = await materializer.materialize(alpha);
      const out = await gen.generate({ alpha, dir: m.dir }, ["hi", "there"], PAPER_SAMPLING);
      expect(out[0].text.startsWith(`answer from ${gen.adapters.get(m.dir)}`)).toBe(true);
    }
    await gen.close();
    expect(gen.starts).toBe(0);
    expect(loads.map((l) => l.lora_path)).toEqual([join(root, "lora"), join(root, "work", "alpha-0.5"), join(root, "work", "alpha-1")]);
    // Each loaded adapter is θ1's scaled by 1 + α, by its lora_alpha.
    for (const [path, factor] of [[join(root, "work", "alpha-0.5"), 1.5], [join(root, "work", "alpha-1"), 2]] as const) {
      expect(JSON.parse(await readFile(join(path, "adapter_config.json"), "utf8")).lora_alpha).toBe(16 * factor);
    }
    expect(new Set(asked)).toEqual(new Set(loads.map((l) => l.lora_name)));
    expect(materializer.writes).toBe(2);
  });

  it("expo-bot search with --generator openai on a LoRA θ1 loads one scaled adapter per α into the running server", async () => {
    const { run } = await import("../cli/search.js");
    const prompts = join(root, "prompts.jsonl");
    await writeFile(prompts, Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `question number ${i}${"?".repeat(i)}` })).join("\n") + "\n");
    loads.length = 0;
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const code = await run(["--sft", join(root, "sft"), "--aligned", join(root, "lora"), "--generator", "openai", "--endpoint", base, "--scorer", "http", "--scorer-endpoint", `${base}/score`, "--prompts", prompts, "--strategy", "grid", "--alphas", "0.5,1", "--sanity-prompts", "4", "--out", join(root, "search"), "--quiet"]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const report = JSON.parse(await readFile(join(root, "search", "search.json"), "utf8"));
    expect(report.alphas.map((a: { alpha: number }) => a.alpha).sort()).toEqual([-0.5, 0, 0.5, 1]);
    // θ1's own adapter for α = 0, one scaled adapter for each other α (sanity α = −0.5 included), each loaded once.
    expect(loads.map((l) => l.lora_path).sort()).toEqual([join(root, "lora"), ...["alpha--0.5", "alpha-0.5", "alpha-1"].map((f) => join(root, "search", "models", f))].sort());
    expect(report.decision.kind).toBe("alpha");
  });

  it("the embedded engine gets a merged full model per α, α = 0 included", async () => {
    const materializer = new FolderMaterializer({ sft: join(root, "sft"), aligned: join(root, "lora"), workDir: join(root, "merged"), extrapolate: (o) => extrapolate(o), adapter: "merge", keep: true });
    const m0 = await materializer.materialize(0);
    expect(m0.dir).toBe(join(root, "merged", "alpha-0"));
    expect(JSON.parse(await readFile(join(m0.dir, "config.json"), "utf8")).model_type).toBe("llama");
    expect(JSON.parse(await readFile(join(m0.dir, "expo_provenance.json"), "utf8")).adapter).toMatchObject({ output: "merged", factor: 1 });
  });
});
