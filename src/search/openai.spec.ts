import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../util/errors.js";
import { HttpScorer } from "./http-scorer.js";
import { OpenAIGenerator, RELOAD_PRESETS } from "./openai.js";
import { PAPER_SAMPLING } from "./types.js";

/** A small OpenAI-compatible server: echoes prompts, fails "flaky" prompts once with 503, stalls "slow" ones once. */
let server: Server;
let base: string;
const state = { inFlight: 0, maxInFlight: 0, bodies: [] as Record<string, unknown>[], seen: new Map<string, number>(), reloads: [] as string[], rpcs: [] as unknown[], scoreBodies: [] as unknown[] };

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return JSON.parse(text || "{}");
}

function json(res: ServerResponse, status: number, value: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/v1/models") return json(res, 200, { object: "list", data: [{ id: "served-model" }] });
    const b = await body(req);
    if (req.url === "/reload") {
      state.reloads.push(String(b.model_path));
      return json(res, 200, { success: true });
    }
    if (req.url === "/update_weights_from_disk") {
      // SGLang: 200 with success false when the folder does not load.
      const ok = !String(b.model_path).includes("broken");
      if (ok) state.reloads.push(String(b.model_path));
      return json(res, ok ? 200 : 400, { success: ok, message: ok ? "Succeeded to update model weights." : "Failed to load" });
    }
    if (req.url === "/collective_rpc") {
      // vLLM dev mode: {method, args, kwargs} run on every worker; results listed per worker.
      state.rpcs.push(b);
      return json(res, 200, { results: [null] });
    }
    if (req.url === "/score") {
      state.scoreBodies.push(b);
      const items = b.items as { prompt: string; response: string }[];
      return json(res, 200, { scores: items.map((i) => i.response.length / 10) });
    }
    if (req.url === "/pooling") {
      const messages = b.messages as { content: string }[];
      return json(res, 200, { data: [{ index: 0, data: [[0.1], [messages[1].content.length]] }] });
    }
    if (req.url !== "/v1/chat/completions" && req.url !== "/v1/completions") return json(res, 404, { error: "no route" });
    state.bodies.push(b);
    const prompt = req.url === "/v1/chat/completions" ? (b.messages as { content: string }[])[0].content : String(b.prompt);
    const tries = (state.seen.get(prompt) ?? 0) + 1;
    state.seen.set(prompt, tries);
    if (prompt.includes("bad")) return json(res, 400, { error: "bad request" });
    if (prompt.includes("flaky") && tries === 1) return json(res, 503, { error: "overloaded" });
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    const delay = prompt.includes("slow") && tries === 1 ? 2000 : 15;
    const timer = setTimeout(() => {
      state.inFlight--;
      const text = `echo:${prompt}`;
      // A prompt containing "long" is cut at max_tokens, as vLLM reports it.
      const finish_reason = prompt.includes("long") ? "length" : "stop";
      const choice = req.url === "/v1/chat/completions" ? { index: 0, message: { role: "assistant", content: text }, finish_reason } : { index: 0, text, finish_reason };
      json(res, 200, { choices: [choice], usage: { completion_tokens: prompt.length, prompt_tokens: 3 } });
    }, delay);
    res.on("close", () => {
      if (!res.writableFinished) {
        clearTimeout(timer);
        state.inFlight--;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  state.inFlight = 0;
  state.maxInFlight = 0;
  state.bodies = [];
  state.seen.clear();
  state.reloads = [];
  state.rpcs = [];
});

const model = { alpha: 0.3, dir: "/models/alpha-0.3" };

/** A port nothing listens on (for a launched stand-in server). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return port;
}

describe("OpenAI-compatible generator", () => {
  it("keeps at most `concurrency` requests in flight and returns answers in prompt order", async () => {
    const gen = new OpenAIGenerator({ endpoint: `${base}/v1`, concurrency: 3, retryBaseMs: 1 });
    const prompts = Array.from({ length: 20 }, (_, i) => `prompt ${i}`);
    const out = await gen.generate(model, prompts, PAPER_SAMPLING);
    expect(out.map((o) => o.text)).toEqual(prompts.map((p) => `echo:${p}`));
    expect(out[3].tokens).toBe("prompt 3".length);
    expect(state.maxInFlight).toBe(3);
    // The paper's sampling settings go out as OpenAI fields (top_k as the vLLM extension).
    expect(state.bodies[0]).toMatchObject({ model: "served-model", temperature: 0.7, top_p: 0.9, top_k: 40, presence_penalty: 0.1, frequency_penalty: 0.1, seed: 42, max_tokens: 2048 });
  });

  it("keeps the finish reason, so truncated answers can be counted", async () => {
    const gen = new OpenAIGenerator({ endpoint: `${base}/v1`, retryBaseMs: 1 });
    const out = await gen.generate(model, ["short one", "a long one"], PAPER_SAMPLING);
    expect(out.map((o) => o.finishReason)).toEqual(["stop", "length"]);
  });

  it("retries a 503 and succeeds", async () => {
    const gen = new OpenAIGenerator({ endpoint: base, concurrency: 2, retryBaseMs: 1 });
    const out = await gen.generate(model, ["flaky one", "fine", "flaky two"], PAPER_SAMPLING);
    expect(out.map((o) => o.text)).toEqual(["echo:flaky one", "echo:fine", "echo:flaky two"]);
    expect(gen.requests).toBe(5);
    expect(gen.retried).toBe(2);
  });

  it("times a stalled request out and retries it; gives up when out of retries", async () => {
    const gen = new OpenAIGenerator({ endpoint: base, timeoutMs: 300, retries: 2, retryBaseMs: 1 });
    const [a] = await gen.generate(model, ["slow one"], PAPER_SAMPLING);
    expect(a.text).toBe("echo:slow one");
    expect(gen.retried).toBe(1);
    const strict = new OpenAIGenerator({ endpoint: base, timeoutMs: 300, retries: 0 });
    await expect(strict.generate(model, ["slow two"], PAPER_SAMPLING)).rejects.toThrow(/timed out after 300 ms/);
  });

  it("does not retry a 400", async () => {
    const gen = new OpenAIGenerator({ endpoint: base, retryBaseMs: 1 });
    await expect(gen.generate(model, ["bad prompt"], PAPER_SAMPLING)).rejects.toThrow(/answered 400/);
    expect(gen.requests).toBe(1);
  });

  it("uses /v1/completions in completions mode", async () => {
    const gen = new OpenAIGenerator({ endpoint: base, mode: "completions", model: "m" });
    const [a] = await gen.generate(model, ["raw text"], PAPER_SAMPLING);
    expect(a.text).toBe("echo:raw text");
    expect(state.bodies[0]).toMatchObject({ model: "m", prompt: "raw text" });
  });

  it("reloads weights in place between α values, or refuses to switch without a way to", async () => {
    const gen = new OpenAIGenerator({ endpoint: base, reload: { path: "/reload", body: { model_path: "{model}" } } });
    await gen.generate({ alpha: 0, dir: "/m/a0" }, ["x"], PAPER_SAMPLING);
    await gen.generate({ alpha: 0.3, dir: "/m/a0.3" }, ["x"], PAPER_SAMPLING);
    await gen.generate({ alpha: 0.3, dir: "/m/a0.3" }, ["y"], PAPER_SAMPLING);
    expect(state.reloads).toEqual(["/m/a0", "/m/a0.3"]);
    const fixed = new OpenAIGenerator({ endpoint: base });
    await fixed.generate({ alpha: 0, dir: "/m/a0" }, ["x"], PAPER_SAMPLING);
    await expect(fixed.generate({ alpha: 0.3, dir: "/m/a0.3" }, ["x"], PAPER_SAMPLING)).rejects.toThrow(UserError);
  });

  it("vLLM: points the workers at the folder (update_config), then reload_weights; SGLang: update_weights_from_disk", async () => {
    const vllm = new OpenAIGenerator({ endpoint: base, reload: RELOAD_PRESETS.vllm });
    await vllm.generate({ alpha: 0.5, dir: '/m/a "0.5"' }, ["x"], PAPER_SAMPLING);
    expect(state.rpcs).toEqual([
      { method: "update_config", args: [{ model_config: { model: '/m/a "0.5"' } }] },
      { method: "reload_weights" },
    ]);
    expect(vllm.reloads).toBe(1);
    const sglang = new OpenAIGenerator({ endpoint: base, reload: RELOAD_PRESETS.sglang });
    await sglang.generate({ alpha: 1, dir: "/m/a1" }, ["x"], PAPER_SAMPLING);
    expect(state.reloads).toEqual(["/m/a1"]);
    // Without a launch command there is nothing to fall back to: the failure is the caller's.
    await expect(sglang.generate({ alpha: 2, dir: "/m/broken" }, ["x"], PAPER_SAMPLING)).rejects.toThrow(/update_weights_from_disk answered 400/);
  });

  it("launches the server per model folder and waits until /v1/models answers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "expo-openai-launch-"));
    try {
      const script = join(dir, "server.mjs");
      await writeFile(
        script,
        `import { createServer } from "node:http";
const [port, model] = process.argv.slice(2);
setTimeout(() => createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  if (req.url === "/v1/models") return res.end(JSON.stringify({ data: [{ id: model }] }));
  let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => {
    const body = JSON.parse(b);
    res.end(JSON.stringify({ choices: [{ message: { content: body.model + ":" + body.messages[0].content } }], usage: { completion_tokens: 2 } }));
  });
}).listen(Number(port), "127.0.0.1"), 200);
`,
      );
      const port = await freePort();
      const gen = new OpenAIGenerator({ launch: { command: `${JSON.stringify(process.execPath)} ${JSON.stringify(script)} {port} {model}`, port, readyTimeoutMs: 15_000 } });
      try {
        const [a] = await gen.generate({ alpha: 0, dir: "/m/theta1" }, ["hi"], PAPER_SAMPLING);
        expect(a.text).toBe("/m/theta1:hi");
        const [b] = await gen.generate({ alpha: 0.5, dir: "/m/alpha 0.5" }, ["hi"], PAPER_SAMPLING);
        expect(b.text).toBe("/m/alpha 0.5:hi");
        expect(gen.starts).toBe(2);
      } finally {
        await gen.close();
      }
      await expect(fetch(`http://127.0.0.1:${port}/v1/models`)).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("falls back to restarting the launched server when its in-place reload fails (vLLM without dev mode)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "expo-openai-fallback-"));
    try {
      const script = join(dir, "server.mjs");
      // A stand-in vLLM without VLLM_SERVER_DEV_MODE: /collective_rpc is not routed (404).
      await writeFile(
        script,
        `import { createServer } from "node:http";
const [port, model] = process.argv.slice(2);
createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  if (req.url === "/v1/models") return res.end(JSON.stringify({ data: [{ id: model }] }));
  let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => {
    if (req.url === "/collective_rpc") { res.statusCode = 404; return res.end(JSON.stringify({ detail: "Not Found" })); }
    const body = JSON.parse(b);
    res.end(JSON.stringify({ choices: [{ message: { content: body.model + ":" + body.messages[0].content } }], usage: { completion_tokens: 2 } }));
  });
}).listen(Number(port), "127.0.0.1");
`,
      );
      const port = await freePort();
      const logs: string[] = [];
      const gen = new OpenAIGenerator({
        launch: { command: `${JSON.stringify(process.execPath)} ${JSON.stringify(script)} {port} {model}`, port, readyTimeoutMs: 15_000 },
        reload: RELOAD_PRESETS.vllm,
        log: (l) => logs.push(l),
      });
      try {
        expect((await gen.generate({ alpha: 0, dir: "/m/theta1" }, ["hi"], PAPER_SAMPLING))[0].text).toBe("/m/theta1:hi");
        expect((await gen.generate({ alpha: 0.5, dir: "/m/a0.5" }, ["hi"], PAPER_SAMPLING))[0].text).toBe("/m/a0.5:hi");
        expect((await gen.generate({ alpha: 1, dir: "/m/a1" }, ["hi"], PAPER_SAMPLING))[0].text).toBe("/m/a1:hi");
        expect(gen.starts).toBe(3);
        expect(gen.reloads).toBe(0);
        expect(gen.reloadFailed).toMatch(/collective_rpc answered 404/);
        // Tried once, then restarts without asking again.
        expect(logs.filter((l) => l.startsWith("in-place reload failed"))).toHaveLength(1);
      } finally {
        await gen.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("HTTP scorer", () => {
  it("json: batched {items} → {scores}", async () => {
    state.scoreBodies = [];
    const scorer = new HttpScorer({ endpoint: `${base}/score`, batchSize: 2 });
    const scores = await scorer.score([
      { prompt: "p", response: "abcdefghij" },
      { prompt: "p", response: "abcde" },
      { prompt: "p", response: "" },
    ]);
    expect(scores).toEqual([1, 0.5, 0]);
    expect(state.scoreBodies).toHaveLength(2);
  });

  it("vllm-pooling: one conversation per request, the last token's reward", async () => {
    const scorer = new HttpScorer({ endpoint: base, format: "vllm-pooling", model: "rm" });
    expect(await scorer.score([{ prompt: "p", response: "abc" }, { prompt: "q", response: "abcdef" }])).toEqual([3, 6]);
  });

  it("rejects a malformed answer with the expected shape in the message", async () => {
    const scorer = new HttpScorer({ endpoint: `${base}/v1/models`, retries: 0 });
    await expect(scorer.score([{ prompt: "p", response: "r" }])).rejects.toThrow();
    expect(() => new HttpScorer({ endpoint: "localhost:1" })).toThrow(/--scorer-endpoint must be an http/);
  });
});
