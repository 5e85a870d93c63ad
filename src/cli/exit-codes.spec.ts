/**
 * One exit-code table for every command: printed by every --help and by the README, and
 * held by the commands for the cases a user meets first (a mistyped flag, a corrupt file).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { main, version } from "../cli.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";

const COMMANDS = ["check", "extrapolate", "search", "publish", "job", "inspect", "generate", "score"];
const root = await mkdtemp(join(tmpdir(), "exit-codes-"));
afterAll(() => rm(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("the exit-code table", () => {
  it("is in `expo-bot --help`, every command's --help, and the README", async () => {
    expect((await run(["--help"])).out).toContain(EXIT_CODES_HELP);
    for (const c of COMMANDS) {
      const r = await run([c, "--help"]);
      expect(r.code, c).toBe(EXIT.ok);
      expect(r.out, c).toContain(EXIT_CODES_HELP);
    }
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    for (const [code, word] of [[1, "internal error"], [2, "bad input"], [3, "refused"], [4, "unreachable"], [5, "no gain"]] as const) {
      expect(readme).toMatch(new RegExp(`\\| ${code} \\| ${word}`));
      expect(EXIT_CODES_HELP).toMatch(new RegExp(`  ${code}  ${word}`));
    }
  });

  it("a mistyped flag is exit 2 with a suggestion in every command; with --json the error is JSON on stdout", async () => {
    for (const c of COMMANDS) {
      const r = await run([c, "--jsn"]);
      expect(r.code, c).toBe(EXIT.badInput);
      // job has no --json; its nearest flag is suggested instead.
      expect(r.err, c).toMatch(c === "job" ? /unknown option --jsn/ : /unknown option --jsn; did you mean --json\?/);
    }
    expect((await run(["job", "--n-prompt", "20"])).err).toMatch(/did you mean --n-prompts\?/);
    const j = await run(["inspect", "--bogus", "--json"]);
    expect(JSON.parse(j.out)).toEqual({ error: { exitCode: 2, kind: "bad-input", message: expect.stringMatching(/unknown option --bogus/) } });
  });

  it("a corrupt weights file is exit 2 (bad input) whichever command reads it", async () => {
    const dir = join(root, "corrupt");
    await rm(dir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(dir));
    await writeFile(join(dir, "config.json"), JSON.stringify({ architectures: ["LlamaForCausalLM"], model_type: "llama" }));
    const bytes = new Uint8Array(10);
    new DataView(bytes.buffer).setBigUint64(0, 2n, true);
    bytes.set([0x5b, 0x5d], 8);
    await writeFile(join(dir, "model.safetensors"), bytes);
    expect((await run(["inspect", dir])).code).toBe(EXIT.badInput);
    expect((await run(["extrapolate", "--sft", dir, "--aligned", dir, "--alpha", "0.5", "--out", join(root, "x"), "--ignore-check", "--quiet"])).code).toBe(EXIT.badInput);
  });

  it("--version prints the package's version", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`expo-bot ${version()}`);
    expect(version()).toBe(JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")).version);
  });

  it("an unknown command gets a suggestion", async () => {
    const r = await run(["serch"]);
    expect(r.code).toBe(EXIT.badInput);
    expect(r.err).toMatch(/unknown command "serch"; did you mean "search"\?/);
  });
});
