/** `expo-bot publish` end to end against the local Hub. */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../cli.js";
import { startLocalHub, type LocalHub } from "../hub-server/index.js";
import { extrapolate } from "../expo/extrapolate.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { parseCardMetadata } from "./card.js";

const TOKEN = "hf_clitestbottoken00000";
let hub: LocalHub;
let tmp: string;
let modelDir: string;
let reportPath: string;
const savedToken = process.env.HF_TOKEN;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ") + "\n"));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ") + "\n"));
  return { out: () => out.join(""), err: () => err.join("") };
}

beforeAll(async () => {
  hub = await startLocalHub();
  hub.admin.addToken(TOKEN, "expo-bot");
  hub.admin.createRepo("acme/tiny-sft", { files: { "README.md": "---\nlicense: apache-2.0\n---\n" } });
  hub.admin.createRepo("acme/tiny-dpo", { files: { "README.md": "---\nlicense: apache-2.0\nbase_model: acme/tiny-sft\n---\n", LICENSE: "Apache License 2.0\n" } });
  hub.admin.createRepo("acme/nd-dpo", { files: { "README.md": "---\nlicense: cc-by-nd-4.0\n---\n" } });
  tmp = await mkdtemp(join(tmpdir(), "publish-cli-"));
  // A real pipeline output: θ0, θ1 derived from it, and extrapolate() writing the folder
  // with its expo_provenance.json naming the Hub sources.
  const sft = join(tmp, "sft");
  const dpo = join(tmp, "dpo");
  await writeTinyModel({ dir: sft, hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2, kvHeads: 1, seed: 3 });
  await deriveTinyModel({ from: sft, dir: dpo, relativeDelta: 0.01, seed: 4 });
  modelDir = join(tmp, "model");
  await extrapolate({
    sft,
    aligned: dpo,
    alpha: 0.3,
    out: modelDir,
    threads: 0,
    sources: { sft: { repo: "acme/tiny-sft", revision: hub.admin.repo("acme/tiny-sft")!.branches.main! }, aligned: { repo: "acme/tiny-dpo", revision: hub.admin.repo("acme/tiny-dpo")!.branches.main! } },
  });
  await mkdir(join(tmp, "search"));
  reportPath = join(tmp, "search", "search.json");
  await copyFile(new URL("./fixtures/search.json", import.meta.url), reportPath);
  await writeFile(join(tmp, "search", "alpha-curve.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>\n");
});

afterEach(() => {
  vi.restoreAllMocks();
  if (savedToken === undefined) delete process.env.HF_TOKEN;
  else process.env.HF_TOKEN = savedToken;
});

afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("expo-bot publish", () => {
  it("--dry-run prints the card and writes nothing (sources from the provenance file)", async () => {
    process.env.HF_TOKEN = TOKEN;
    const io = capture();
    const code = await main(["publish", "--model", modelDir, "--report", reportPath, "--hub-url", hub.url, "--dry-run"]);
    expect(code).toBe(0);
    const meta = parseCardMetadata(io.out())!;
    expect(meta.base_model).toEqual(["acme/tiny-dpo", "acme/tiny-sft"]);
    expect(io.out()).toContain("# tiny-dpo-ExPO");
    expect(io.err()).toContain("dry run: would publish expo-bot/tiny-dpo-ExPO");
    expect(hub.admin.repo("expo-bot/tiny-dpo-ExPO")).toBeUndefined();
  });

  it("publishes, then reports the rerun as up to date", async () => {
    process.env.HF_TOKEN = TOKEN;
    let io = capture();
    expect(await main(["publish", "--model", modelDir, "--report", reportPath, "--repo", "expo-bot/tiny-dpo-ExPO", "--hub-url", hub.url, "--json"])).toBe(0);
    const result = JSON.parse(io.out());
    expect(result).toMatchObject({ repo: "expo-bot/tiny-dpo-ExPO", status: "created" });
    expect(result.uploaded).toEqual(expect.arrayContaining(["README.md", "LICENSE", "alpha-curve.svg", "expo_provenance.json", "model.safetensors"]));
    vi.restoreAllMocks();
    io = capture();
    expect(await main(["publish", "--model", modelDir, "--report", reportPath, "--repo", "expo-bot/tiny-dpo-ExPO", "--hub-url", hub.url])).toBe(0);
    expect(io.out()).toContain("already up to date");
  });

  it("exits 4 with the reasons when the licence forbids derivatives", async () => {
    process.env.HF_TOKEN = TOKEN;
    const io = capture();
    const code = await main(["publish", "--model", modelDir, "--report", reportPath, "--theta1", "acme/nd-dpo", "--theta0", "acme/tiny-sft", "--hub-url", hub.url]);
    expect(code).toBe(4);
    expect(io.err()).toMatch(/cc-by-nd-4\.0, which does not allow derivative works/);
  });

  it("names the missing flag or token", async () => {
    delete process.env.HF_TOKEN;
    delete process.env.HUGGING_FACE_HUB_TOKEN;
    const io = capture();
    expect(await main(["publish", "--report", reportPath])).toBe(2);
    expect(io.err()).toContain("--model DIR is required");
    expect(await main(["publish", "--model", modelDir, "--report", reportPath, "--hub-url", hub.url])).toBe(2);
    expect(io.err()).toContain("no Hub token: set HF_TOKEN");
  });
});
