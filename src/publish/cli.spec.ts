/** `expo-bot publish` end to end against the local Hub. */
import { copyFile, cp, mkdir, mkdtemp, rm, stat, truncate, writeFile } from "node:fs/promises";
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
  it("--dry-run prints the card and writes nothing, with no token and no network (sources from the provenance file)", async () => {
    delete process.env.HF_TOKEN;
    delete process.env.HUGGING_FACE_HUB_TOKEN;
    const io = capture();
    // Port 9 (discard) on loopback: any request would fail; a dry run makes none.
    const code = await main(["publish", "--model", modelDir, "--report", reportPath, "--hub-url", "http://127.0.0.1:9", "--namespace", "expo-bot", "--dry-run"]);
    expect(io.err()).not.toMatch(/connection|unreachable/i);
    expect(code).toBe(0);
    const meta = parseCardMetadata(io.out())!;
    expect(meta.base_model).toEqual(["acme/tiny-dpo", "acme/tiny-sft"]);
    expect(io.out()).toContain("# tiny-dpo-ExPO");
    expect(io.err()).toContain("dry run: would publish expo-bot/tiny-dpo-ExPO");
    expect(io.err()).toMatch(/not checked without the Hub: θ1's licence/);
    expect(hub.admin.repo("expo-bot/tiny-dpo-ExPO")).toBeUndefined();
  });

  it("validates the folder before anything is uploaded: a truncated safetensors file, a folder without weights", async () => {
    process.env.HF_TOKEN = TOKEN;
    const truncated = join(tmp, "truncated");
    await cp(modelDir, truncated, { recursive: true });
    const size = (await stat(join(truncated, "model.safetensors"))).size;
    await truncate(join(truncated, "model.safetensors"), Math.floor(size / 2));
    let io = capture();
    expect(await main(["publish", "--model", truncated, "--report", reportPath, "--hub-url", hub.url, "--repo", "expo-bot/truncated"])).toBe(2);
    expect(io.err()).toMatch(/not a complete, valid model folder; nothing was uploaded:\n {2}- model\.safetensors: .*file has \d+ bytes/);
    expect(hub.admin.repo("expo-bot/truncated")).toBeUndefined();
    vi.restoreAllMocks();

    const empty = join(tmp, "no-weights");
    await cp(modelDir, empty, { recursive: true });
    await rm(join(empty, "model.safetensors"));
    io = capture();
    expect(await main(["publish", "--model", empty, "--report", reportPath, "--dry-run", "--json"])).toBe(2);
    expect(io.err()).toMatch(/no weights \(model\.safetensors or model\.safetensors\.index\.json\)/);
    // --json: the error is JSON on stdout too.
    expect(JSON.parse(io.out())).toMatchObject({ error: { exitCode: 2, kind: "bad-input" } });
  });

  it("refuses --theta1 that disagrees with the folder's expo_provenance.json", async () => {
    const io = capture();
    expect(await main(["publish", "--model", modelDir, "--report", reportPath, "--theta1", "acme/nd-dpo", "--dry-run"])).toBe(2);
    expect(io.err()).toMatch(/--theta1 acme\/nd-dpo@main disagrees with expo_provenance\.json, which says the folder was built from θ1 = acme\/tiny-dpo/);
  });

  it("keeps --repo exactly as given", async () => {
    const io = capture();
    expect(await main(["publish", "--model", modelDir, "--report", reportPath, "--repo", "tester/x", "--dry-run"])).toBe(0);
    expect(io.err()).toContain("dry run: would publish tester/x:");
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

  it("exits 3 (refused) with the reasons when the licence forbids derivatives", async () => {
    process.env.HF_TOKEN = TOKEN;
    // A folder without a provenance file: the sources come from the flags.
    const bare = join(tmp, "bare");
    await cp(modelDir, bare, { recursive: true });
    await rm(join(bare, "expo_provenance.json"));
    const io = capture();
    const code = await main(["publish", "--model", bare, "--report", reportPath, "--theta1", "acme/nd-dpo", "--theta0", "acme/tiny-sft", "--hub-url", hub.url]);
    expect(code).toBe(3);
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
