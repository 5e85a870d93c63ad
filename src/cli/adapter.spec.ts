/** The CLI with a PEFT LoRA adapter as θ1: check and extrapolate, output and exit codes. */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../cli.js";
import { writeTinyAdapter } from "../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../synthetic/tiny-model.js";

const root = await mkdtemp(join(tmpdir(), "expo-cli-lora-"));
const sft = join(root, "sft");
let out: string[];
let err: string[];

beforeAll(async () => {
  await writeTinyModel({ dir: sft, seed: 4, hiddenSize: 32, heads: 4 });
  await writeTinyAdapter({ base: sft, dir: join(root, "lora"), r: 4, loraAlpha: 8 });
  await writeTinyAdapter({ base: sft, dir: join(root, "dora"), useDora: true });
});
afterAll(() => rm(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());
function capture() {
  out = [];
  err = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
}

describe("expo-bot with a LoRA adapter θ1", () => {
  it("check: prints the adapter's r and s, passes (exit 0); a DoRA adapter is refused (exit 3)", async () => {
    capture();
    expect(await main(["check", "--sft", sft, "--aligned", join(root, "lora")])).toBe(0);
    expect(out.join("\n")).toMatch(/θ1 is a LoRA adapter: r = 4, lora_alpha = 8, s = 2, 4 module\(s\)/);
    capture();
    expect(await main(["check", "--sft", sft, "--aligned", join(root, "dora")])).toBe(3);
    expect(out.join("\n")).toMatch(/use_dora is true.*\[adapter-unsupported\]/s);
  });

  it("check: a full model θ1 still needs --sft (exit 2)", async () => {
    capture();
    expect(await main(["check", "--aligned", sft])).toBe(2);
    expect(err.join("\n")).toMatch(/--sft\) is required when θ1 is a full model/);
  });

  it("extrapolate: the scaled adapter by default, the merged model with --merge", async () => {
    capture();
    const scaled = join(root, "scaled");
    expect(await main(["extrapolate", "--sft", sft, "--aligned", join(root, "lora"), "--alpha", "0.5", "--out", scaled, "--quiet"])).toBe(0);
    expect(out.join("\n")).toMatch(/LoRA adapter: r = 4, 4 module\(s\), s = 2, update × 1\.5: lora_alpha 8 → 12/);
    expect((await readdir(scaled)).sort()).toContain("adapter_model.safetensors");
    capture();
    const merged = join(root, "merged");
    expect(await main(["extrapolate", "--sft", sft, "--aligned", join(root, "lora"), "--alpha", "0.5", "--out", merged, "--merge", "--quiet"])).toBe(0);
    expect(out.join("\n")).toMatch(/update × 1\.5, merged into θ0/);
    expect((await readdir(merged)).sort()).toEqual(expect.arrayContaining(["config.json", "model.safetensors", "tokenizer.json", "expo_provenance.json"]));
  });

  it("extrapolate: a DoRA adapter is refused with the reason (exit 3), nothing written", async () => {
    capture();
    const target = join(root, "dora-out");
    expect(await main(["extrapolate", "--sft", sft, "--aligned", join(root, "dora"), "--alpha", "0.5", "--out", target, "--quiet"])).toBe(3);
    expect(err.join("\n")).toMatch(/use_dora is true: DoRA rescales every column/);
    expect(await stat(target).catch(() => null)).toBeNull();
  });
});
