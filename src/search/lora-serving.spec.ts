/**
 * A LoRA adapter θ1 on an external engine: one scaled adapter per α, loaded into the running
 * server by name (vLLM/SGLang's runtime LoRA loading) and asked for in each request's
 * `model` field; the server is never restarted. The server is a local stand-in that records
 * what it was asked.
 */
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "sft"), hiddenSize: 32, heads: 4, seed: 2 });
  await writeTinyAdapter({ base: join(root, "sft"), dir: join(root, "lora"), loraAlpha: 16 });
  server = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const b = text ? JSON.parse(text) : {};
    if (req.url === "/v1/load_lora_adapter") {
      loads.push(b);
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`Success: LoRA adapter '${b.lora_name}' added successfully.`);
    }
    if (req.url === "/v1/chat/completions") {
      const known = loads.some((l) => l.lora_name === b.model);
      asked.push(b.model);
      res.writeHead(known ? 200 : 404, { "content-type": "application/json" });
      return res.end(JSON.stringify(known ? { choices: [{ message: { content: `answer from ${b.model}` } }], usage: { completion_tokens: 3 } } : { error: `model ${b.model} not found` }));
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
      expect(out[0].text).toBe(`answer from ${gen.adapters.get(m.dir)}`);
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

  it("the embedded engine gets a merged full model per α, α = 0 included", async () => {
    const materializer = new FolderMaterializer({ sft: join(root, "sft"), aligned: join(root, "lora"), workDir: join(root, "merged"), extrapolate: (o) => extrapolate(o), adapter: "merge", keep: true });
    const m0 = await materializer.materialize(0);
    expect(m0.dir).toBe(join(root, "merged", "alpha-0"));
    expect(JSON.parse(await readFile(join(m0.dir, "config.json"), "utf8")).model_type).toBe("llama");
    expect(JSON.parse(await readFile(join(m0.dir, "expo_provenance.json"), "utf8")).adapter).toMatchObject({ output: "merged", factor: 1 });
  });
});
