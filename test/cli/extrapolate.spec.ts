import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveTinyModel, writeTinyModel } from "../../src/synthetic/tiny-model.js";

const root = await mkdtemp(join(tmpdir(), "expo-cli-"));
const sft = join(root, "sft"), aligned = join(root, "aligned"), unrelated = join(root, "unrelated");
beforeAll(async () => {
  await writeTinyModel({ dir: sft, dtype: "BF16", shards: 2, seed: 4 });
  await writeTinyModel({ dir: unrelated, dtype: "BF16", shards: 2, seed: 9 });
  await deriveTinyModel({ from: sft, dir: aligned, dtype: "BF16", relativeDelta: 0.01 });
});
afterAll(() => rm(root, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/expo-bot.js", ...args], { encoding: "utf8", env: { ...process.env, EXPO_BOT_DEBUG: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("expo-bot extrapolate (CLI)", () => {
  it("writes the folder and prints a JSON report", () => {
    const out = join(root, "out");
    const r = cli("extrapolate", "--sft", sft, "--aligned", aligned, "--alpha", "0.3", "--alpha-rule", "lm_head|embed_tokens=0", "--shard-size", "100kB", "--out", out, "--json", "--quiet");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.tensors.total).toBe(21);
    expect(report.rules).toEqual([{ rule: "lm_head|embed_tokens=0", alpha: 0, tensors: 2 }]);
    for (const k of ["bytesRead", "bytesWritten", "seconds", "peakRssBytes", "nonFiniteInputs", "overflows"]) expect(typeof report[k]).toBe("number");
    expect(report.relativeDelta.median).toBeGreaterThan(0);
    expect(report.files).toContain("model.safetensors.index.json");
    const inspect = cli("inspect", out, "--json");
    expect(inspect.code).toBe(0);
    const i = JSON.parse(inspect.stdout);
    expect(i.valid).toBe(true);
    expect(i.kind).toBe("folder");
    expect(i.parameters).toBe(report.parameters);
    expect(Object.keys(i.dtypes)).toEqual(["BF16"]);
  });

  it("prints a human summary and progress on stderr", () => {
    const r = cli("extrapolate", "--sft", sft, "--aligned", aligned, "--alpha", "0.5", "--out", join(root, "out-h"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*out-h: 21 tensors \(21 extrapolated, 0 copied\)/);
    // Off a TTY, progress is plain lines (JSON lines only with --json-progress).
    expect(r.stderr).toMatch(/^extrapolate: \d+% /m);
    expect(r.stderr).not.toMatch(/"event":"progress"/);
    const j = cli("extrapolate", "--sft", sft, "--aligned", aligned, "--alpha", "0.5", "--out", join(root, "out-j"), "--json-progress");
    expect(j.stderr).toMatch(/"event":"progress"/);
  });

  it("accepts --alpha -0.5 (a negative value after the flag)", () => {
    const r = cli("extrapolate", "--sft", sft, "--aligned", aligned, "--alpha", "-0.5", "--out", join(root, "out-neg"), "--json", "--quiet");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).alpha).toBe(-0.5);
  });

  it("runs the pair check first: an unrelated pair is refused with exit 3 and nothing written, unless --ignore-check", async () => {
    const out = join(root, "out-unrelated");
    const r = cli("extrapolate", "--sft", unrelated, "--aligned", aligned, "--alpha", "0.3", "--out", out, "--quiet");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the pair check refuses this pair[\s\S]*--ignore-check/);
    expect((await readdir(root)).filter((n) => n.startsWith("out-unrelated") || n.includes(".tmp-"))).toEqual([]);
    const forced = cli("extrapolate", "--sft", unrelated, "--aligned", aligned, "--alpha", "0.3", "--out", out, "--quiet", "--ignore-check");
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: the pair check refuses/);
  });

  it("bad flags and inputs: exit 2, a message naming the flag or file, nothing written", async () => {
    const out = join(root, "bad");
    const cases: Array<[string[], RegExp]> = [
      [["--aligned", aligned, "--alpha", "1", "--out", out], /--sft is required/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "abc", "--out", out], /--alpha: "abc" is not a finite number/],
      [["--sft", sft, "--aligned", aligned, "--alpha=-2", "--out", out], /α must be ≥ −1/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--alpha-rule", "[=1", "--out", out], /--alpha-rule "\[=1"/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--dtype", "q4", "--out", out], /--dtype: unknown float dtype "q4"/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--threads", "x", "--out", out], /--threads: "x"/],
      [["--sft", join(root, "missing"), "--aligned", aligned, "--alpha", "1", "--out", out], /--sft .*missing: no such folder, and not a Hub id/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--out", out, "--bogus"], /unknown option --bogus/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--out", out, "--overwrit"], /unknown option --overwrit; did you mean --overwrite\?/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1e9", "--out", out], /α = 1000000000 is beyond ±10.*--allow-large-alpha/],
      [["--sft", sft, "--aligned", aligned, "--alpha", "1", "--alpha-rule", "lm_head=50", "--out", out], /--alpha-rule lm_head=50: α = 50 is beyond/],
    ];
    for (const [args, message] of cases) {
      const r = cli("extrapolate", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^expo-bot extrapolate: /);
      expect(r.stderr).toMatch(message);
    }
    expect((await readdir(root)).filter((n) => n.startsWith("bad") || n.includes(".tmp-"))).toEqual([]);
  }, 240_000); // one process per case: tsx start-up dominates under a loaded machine

  it("inspect reports an invalid file with exit 2 (bad input) and the reason", async () => {
    const bad = join(root, "bad.safetensors");
    const bytes = new Uint8Array(8 + 2);
    new DataView(bytes.buffer).setBigUint64(0, 2n, true);
    bytes.set([0x5b, 0x5d], 8);
    await writeFile(bad, bytes);
    const r = cli("inspect", bad);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/valid: NO — .*does not start with '\{'/);
    const ok = cli("inspect", join(sft, "model-00001-of-00002.safetensors"));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/valid: yes/);
    expect(cli("inspect").code).toBe(2);
  });
});
