/** `expo-bot generate` and `expo-bot score`: output, --json, --dump-logits (.npy), errors. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decodeNpyFloat32 } from "../inference/npy.js";
import { TINY_CASES, TINY_REWARD_CASES, writeTinyCase } from "../inference/test-support.js";
import { main } from "../cli.js";

const root = await mkdtemp(join(tmpdir(), "expo-cli-inf-"));
let lmDir = "";
let rmDir = "";
beforeAll(async () => {
  lmDir = await writeTinyCase(root, TINY_CASES[0]);
  rmDir = await writeTinyCase(root, TINY_REWARD_CASES[0]);
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  const error = vi.spyOn(console, "error").mockImplementation((...a) => void err.push(a.join(" ")));
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("expo-bot generate", () => {
  it("generates reproducibly with --seed and prints JSON lines", async () => {
    const args = ["generate", "--model", lmDir, "--prompt", "the cat", "--prompt", "hello", "--max-new-tokens", "5", "--seed", "3", "--temperature", "0.8", "--json", "--threads", "1"];
    const a = await capture(args);
    expect(a.code).toBe(0);
    const lines = a.out.split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].tokenIds.length).toBeLessThanOrEqual(5);
    const b = await capture(args);
    expect(b.out).toBe(a.out);
  });

  it("--dump-logits writes float32 [seq, vocab] for --token-ids", async () => {
    const file = join(root, "logits.npy");
    const ids = join(root, "ids.json");
    await writeFile(ids, JSON.stringify([5, 6, 7]));
    const r = await capture(["generate", "--model", lmDir, "--token-ids", `@${ids}`, "--dump-logits", file, "--json"]);
    expect(r.code).toBe(0);
    const { shape, values } = decodeNpyFloat32(await readFile(file));
    expect(shape).toEqual([3, JSON.parse(r.out).shape[1]]);
    expect(values.every(Number.isFinite)).toBe(true);
  });

  it("refuses bad options with a message and exit code 2", async () => {
    expect((await capture(["generate", "--prompt", "x"])).code).toBe(2);
    const r = await capture(["generate", "--model", lmDir, "--prompt", "x", "--top-p", "2"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--top-p/);
    const wrongKind = await capture(["generate", "--model", rmDir, "--prompt", "x"]);
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.err).toMatch(/not a causal LM/);
  });
});

describe("expo-bot score", () => {
  it("scores responses and dumps per-token scores", async () => {
    const file = join(root, "scores.npy");
    const r = await capture(["score", "--reward-model", rmDir, "--prompt", "hi", "--response", "hello", "--response", "good day to you", "--json", "--dump-logits", file]);
    expect(r.code).toBe(0);
    const lines = r.out.split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(typeof lines[0].score).toBe("number");
    const { shape, values } = decodeNpyFloat32(await readFile(file));
    expect(shape).toEqual([lines[0].tokens, 1]);
    // The score is the per-token output at the last token of the same conversation.
    expect(values[values.length - 1]).toBeCloseTo(lines[0].score, 5);
  });
});
