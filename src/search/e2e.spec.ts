/**
 * End to end on tiny generated models: src/synthetic writes θ0, θ1 and a reward model,
 * src/expo extrapolates each α, src/inference generates and scores. Once through the CLI
 * with the embedded backends, once through an OpenAI-compatible HTTP server that serves the
 * embedded engine (with an in-place reload endpoint), and once on a pair with Δθ = 0, where
 * "no gain" is the truth.
 */
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../cli.js";
import { extrapolate } from "../expo/index.js";
import { loadCausalLM, type CausalLM } from "../inference/index.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { ResultCache } from "./cache.js";
import { EmbeddedScorer } from "./embedded.js";
import { FolderMaterializer, folderRevision } from "./materialize.js";
import { OpenAIGenerator } from "./openai.js";
import { validateSearchReport, type SearchReport } from "./schema.js";
import { runSearch } from "./search.js";

const root = await mkdtemp(join(tmpdir(), "expo-search-e2e-"));
let sft = "";
let dpo = "";
let same = "";
let rmDir = "";
let promptsFile = "";

beforeAll(async () => {
  const shape = { architecture: "llama" as const, hiddenSize: 32, heads: 4, layers: 2 };
  sft = (await writeTinyModel({ dir: join(root, "sft"), ...shape, seed: 1 })).dir;
  dpo = (await deriveTinyModel({ dir: join(root, "dpo"), from: sft, relativeDelta: 0.3, seed: 2 })).dir;
  same = (await deriveTinyModel({ dir: join(root, "same"), from: sft, relativeDelta: 0, seed: 3 })).dir;
  rmDir = (await writeTinyModel({ dir: join(root, "rm"), ...shape, head: "reward", seed: 4 })).dir;
  promptsFile = join(root, "prompts.jsonl");
  const prompts = ["the cat sat", "write a poem", "hello there", "what is rain", "tell me a story", "explain the sun", "count to ten", "name a color", "why is the sky blue", "list three fruits"];
  await writeFile(promptsFile, prompts.map((p) => JSON.stringify({ prompt: p })).join("\n") + "\n");
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  const error = vi.spyOn(console, "error").mockImplementation((...a) => void err.push(a.join(" ")));
  try {
    return { code: await main(argv), out: out.join("\n"), err: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

async function readReport(dir: string): Promise<SearchReport> {
  return validateSearchReport(JSON.parse(await readFile(join(dir, "search.json"), "utf8")));
}

describe("α search end to end on tiny models", () => {
  it("expo-bot search with the embedded backends writes search.json and the plot, and resumes from its cache", async () => {
    const out = join(root, "out-grid");
    const args = ["search", "--sft", sft, "--aligned", dpo, "--strategy", "grid", "--alphas", "0.5,2", "--prompts", promptsFile, "--n-prompts", "10", "--max-new-tokens", "6", "--reward-model", rmDir, "--out", out, "--json", "--quiet"];
    const first = await cli(args);
    expect(first.err).toBe("");
    const summary = JSON.parse(first.out);
    // One exit-code table: 0 with a chosen α, 5 for "no gain" (this random reward model may say either).
    expect(first.code).toBe(summary.decision.kind === "alpha" ? 0 : 5);
    expect(summary.cost.generations).toBe(40); // α ∈ {−0.5, 0, 0.5, 2} × 10 prompts
    const report = await readReport(out);
    expect(report.alphas.map((a) => a.alpha)).toEqual([-0.5, 0, 0.5, 2]);
    expect(report.alphas.every((a) => a.n === 10 && a.tokens.every((t) => t >= 1 && t <= 6))).toBe(true);
    expect(report.prompts.ids).toHaveLength(10);
    expect(report.models.aligned.revision).toBe(await folderRevision(dpo));
    // The interpolation sanity check (paper Fig. 1) ran at α = −0.5 on the same prompts.
    expect(report.sanity).toMatchObject({ alpha: -0.5, n: 10 });
    expect(report.notes?.join(" ") ?? "").not.toMatch(/sanity check skipped/);
    expect((await stat(join(out, "alpha-curve.png"))).size).toBeGreaterThan(1000);
    expect(await readFile(join(out, "alpha-curve.svg"), "utf8")).toContain("<svg");
    // θ1 is a generated test model: the report and the plot say so.
    expect(report.synthetic).toBe(true);
    expect(await readFile(join(out, "alpha-curve.svg"), "utf8")).toContain("(SYNTHETIC models)");
    // Extrapolated folders are removed once used.
    expect(await stat(join(out, "models", "alpha-0.5")).catch(() => null)).toBeNull();

    const again = await cli(args);
    expect(again.code).toBe(first.code);
    const resumed = JSON.parse(again.out);
    expect(resumed.cost.generations).toBe(0);
    expect(resumed.cost.cachedGenerations).toBe(40);
    expect((await readReport(out)).decision).toEqual(report.decision);
  });

  it("refuses bad flags with exit code 2 and a message naming the flag", async () => {
    const base = ["search", "--sft", sft, "--aligned", dpo, "--out", join(root, "bad"), "--reward-model", rmDir, "--prompts", promptsFile];
    const cases: [string[], RegExp][] = [
      [["--strategy", "best"], /--strategy: expected auto or grid, got "best"/],
      [["--alphas", "0.1"], /--alphas applies to --strategy grid only/],
      [["--strategy", "grid", "--alphas", "0.1,x"], /--alphas: "x" is not a number/],
      [["--n-prompts", "0"], /--n-prompts: expected a positive integer, got "0"/],
      [["--n-prompts", "8"], /--n-prompts 8: the decision needs at least 10 prompts/],
      [["--strategy", "grid", "--alphas", "1e9"], /above 10, .*--allow-large-alpha/],
      [["--max-token", "8"], /unknown option --max-token; did you mean --max-new-tokens\?/],
      [["--generator", "openai"], /--generator openai needs --endpoint URL or --launch CMD/],
      [["--scorer", "http"], /--scorer http needs --scorer-endpoint URL/],
      [["--prompts", join(root, "nope.jsonl")], /--prompts .*nope\.jsonl: cannot read \(ENOENT\)/],
    ];
    for (const [extra, message] of cases) {
      const r = await cli([...base, ...extra]);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.err).toMatch(message);
    }
    const noRm = await cli(["search", "--sft", sft, "--aligned", dpo, "--out", join(root, "bad")]);
    expect(noRm.err).toMatch(/--reward-model is required/);
  });

  it('says "no gain" when θ1 = θ0 (Δθ = 0: every α is the same model)', async () => {
    const out = join(root, "out-same");
    const r = await cli(["search", "--sft", sft, "--aligned", same, "--strategy", "grid", "--alphas", "0.3,1", "--prompts", promptsFile, "--max-new-tokens", "5", "--reward-model", rmDir, "--out", out, "--quiet", "--ignore-check"]);
    expect(r.code).toBe(5);
    expect(r.out).toMatch(/^no gain/m);
    const report = await readReport(out);
    expect(report.decision.kind).toBe("no-gain");
    const zero = report.alphas.find((a) => a.alpha === 0)!;
    for (const a of report.alphas) expect(a.rewards).toEqual(zero.rewards);
  });

  it("over HTTP: an OpenAI-compatible server serving the embedded engine, reloading weights in place", async () => {
    let lm: CausalLM | undefined;
    let loadedDir = "";
    const loads: string[] = [];
    const server: Server = createServer(async (req, res) => {
      let text = "";
      for await (const c of req) text += c;
      const body = text ? JSON.parse(text) : {};
      res.setHeader("content-type", "application/json");
      try {
        if (req.url === "/v1/models") return res.end(JSON.stringify({ data: [{ id: loadedDir || "none" }] }));
        if (req.url === "/reload") {
          const dir = body.model_path;
          await lm?.close();
          lm = await loadCausalLM(dir, { inProcess: true });
          loadedDir = dir;
          loads.push(dir);
          return res.end(JSON.stringify({ success: true }));
        }
        const [g] = await lm!.generate([body.messages[0].content], {
          maxNewTokens: body.max_tokens, temperature: body.temperature, topP: body.top_p, topK: body.top_k,
          presencePenalty: body.presence_penalty, frequencyPenalty: body.frequency_penalty, seed: body.seed,
        });
        res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: g.text } }], usage: { completion_tokens: g.tokenIds.length } }));
      } catch (err) {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: String(err) }));
      }
    });
    // The server starts serving θ1, like `vllm serve θ1` would.
    lm = await loadCausalLM(dpo, { inProcess: true });
    loadedDir = dpo;
    loads.push(dpo);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const scorer = new EmbeddedScorer(rmDir, { inProcess: true });
    const work = join(root, "http-models");
    try {
      const generator = new OpenAIGenerator({ endpoint, concurrency: 2, reload: { path: "/reload", body: { model_path: "{model}" } } });
      const report = await runSearch({
        prompts: [0, 1, 2, 3].map((i) => ({ id: `p${i}`, text: ["the cat sat", "hello there", "what is rain", "name a color"][i] })),
        generator,
        scorer,
        materializer: new FolderMaterializer({ sft, aligned: dpo, workDir: work, extrapolate: (o) => extrapolate(o) }),
        models: { sft: { path: sft, revision: "sft" }, aligned: { path: dpo, revision: "dpo" } },
        sampling: { maxTokens: 4 },
        strategy: { kind: "grid", alphas: [1] },
        cache: await ResultCache.open(join(root, "http-cache.jsonl")),
        sanityPrompts: 0,
      });
      validateSearchReport(report);
      expect(report.cost.generations).toBe(8);
      expect(report.generator).toBe("openai:chat");
      // Started on θ1; the generator reloads on first use (it cannot know what the server holds), then for α = 1.
      expect(loads).toEqual([dpo, dpo, join(work, "alpha-1")]);
      expect(generator.reloads).toBe(2);
      await generator.close();
    } finally {
      await scorer.close();
      await lm?.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
