import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startLocalHub, type LocalHub } from "../hub-server/index.js";
import { deriveTinyModel, writeTinyModel } from "../synthetic/tiny-model.js";
import { UserError } from "../util/errors.js";
import { main } from "../cli.js";
import { run } from "./check.js";

const root = await mkdtemp(join(tmpdir(), "expo-cli-check-"));
let hub: LocalHub;
let out: string[];
let err: string[];

beforeAll(async () => {
  await writeTinyModel({ dir: join(root, "sft"), seed: 3 });
  await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "dpo"), relativeDelta: 0.01, card: { base_model: "org/sft" } });
  await deriveTinyModel({ from: join(root, "sft"), dir: join(root, "far"), relativeDelta: 0.2 });
  await writeTinyModel({ dir: join(root, "other"), seed: 8 });
  hub = await startLocalHub();
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});
function capture() {
  out = [];
  err = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
}
afterEach(() => vi.restoreAllMocks());

describe("expo-bot check", () => {
  it("prints a pass with its table and exits 0", async () => {
    capture();
    expect(await run(["--sft", join(root, "sft"), "--aligned", join(root, "dpo"), "--sft-id", "org/sft"])).toBe(0);
    const text = out.join("\n");
    expect(text).toMatch(/^expo-bot check: PASS/);
    expect(text).toContain("[lineage-confirmed]");
    expect(text).toContain("overall (weight matrices)");
    expect(text).toMatch(/Read .* in \d+ requests/);
  });

  it("exits 3 on a refusal, and prints JSON with --json", async () => {
    capture();
    expect(await run(["--sft", join(root, "sft"), "--aligned", join(root, "other"), "--json"])).toBe(3);
    const v = JSON.parse(out.join("\n"));
    expect(v.schema).toBe("expo-bot/verdict@1");
    expect(v.verdict).toBe("refuse");
    expect(v.reasons[0].code).toBe("weights-unrelated");
    expect(v.usage.sft.requests).toBeGreaterThan(0);
  });

  it("exits 0 on a warning and prints the warning to stderr under --json", async () => {
    capture();
    expect(await run(["--sft", join(root, "sft"), "--aligned", join(root, "far"), "--json"])).toBe(0);
    expect(JSON.parse(out.join("\n")).verdict).toBe("warn");
    expect(err.join("\n")).toMatch(/warning: θ1 moved further/);
  });

  it("takes thresholds from a file and from flags (flags win)", async () => {
    const file = join(root, "thresholds.json");
    await writeFile(file, JSON.stringify({ warnRelativeDistance: 0.3, refuseRelativeDistance: 0.6, warnCosine: 0.95 }));
    capture();
    expect(await run(["--sft", join(root, "sft"), "--aligned", join(root, "far"), "--json", "--thresholds", file])).toBe(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ verdict: "pass", thresholds: { warnRelativeDistance: 0.3 } });
    capture();
    expect(await run(["--sft", join(root, "sft"), "--aligned", join(root, "far"), "--json", "--thresholds", file, "--refuse-relative-distance", "0.15", "--warn-relative-distance", "0.1"])).toBe(3);
    expect(JSON.parse(out.join("\n")).thresholds.refuseRelativeDistance).toBe(0.15);
    await writeFile(file, JSON.stringify({ warnCosine: "high" }));
    await expect(run(["--sft", join(root, "sft"), "--aligned", join(root, "dpo"), "--thresholds", file])).rejects.toThrow(/"warnCosine" must be a non-negative number/);
  });

  it("exits 4 when a Hub model cannot be reached, and rejects missing flags", async () => {
    capture();
    expect(await main(["check", "--sft", "org/missing", "--aligned", join(root, "dpo"), "--hub-url", hub.url])).toBe(4);
    expect(err.join("\n")).toMatch(/could not read a model: .*org\/missing.*not found/);
    // A port nothing listens on: the endpoint is named, with what to do offline (one retry, no backoff ladder).
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    err.length = 0;
    expect(await main(["check", "--sft", "org/a", "--aligned", "org/b", "--hub-url", `http://127.0.0.1:${closed}`, "--json"])).toBe(4);
    expect(err.join("\n")).toMatch(/connection to the Hub at 127\.0\.0\.1:\d+ failed[\s\S]*Offline\? Use local model folders, --prompts FILE[\s\S]*HF_HUB_OFFLINE=1[\s\S]*HF_ENDPOINT/);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ error: { exitCode: 4, kind: "unreachable" } });
    // HF_HUB_OFFLINE=1: no request at all.
    err.length = 0;
    out.length = 0;
    // HF_HUB_OFFLINE=1: no request at all; Hub ids come from the model cache, or exit 4.
    const cache = join(root, "cache");
    const sha = "a".repeat(40);
    await cp(join(root, "sft"), join(cache, "models--org--sft", "snapshots", sha), { recursive: true });
    await writeFile(join(cache, "models--org--sft", "snapshots", sha, ".expo-complete"), "");
    await mkdir(join(cache, "models--org--sft", "refs"));
    await writeFile(join(cache, "models--org--sft", "refs", "main"), sha);
    const saved = { HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE, EXPO_BOT_CACHE: process.env.EXPO_BOT_CACHE, HF_HOME: process.env.HF_HOME };
    Object.assign(process.env, { HF_HUB_OFFLINE: "1", EXPO_BOT_CACHE: cache, HF_HOME: join(root, "hf-home") });
    hub.admin.clearRequests();
    try {
      expect(await main(["check", "--sft", "org/a", "--aligned", "org/b", "--hub-url", hub.url])).toBe(4);
      expect(err.join("\n")).toMatch(/HF_HUB_OFFLINE is set and org\/a@main is not in the cache/);
      out.length = 0;
      expect(await main(["check", "--sft", "org/sft", "--aligned", join(root, "dpo"), "--hub-url", hub.url])).toBe(0);
      expect(out.join("\n")).toMatch(/PASS/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(hub.admin.requests).toHaveLength(0);
    await expect(run(["--sft", join(root, "sft")])).rejects.toThrow(UserError);
  });
});
