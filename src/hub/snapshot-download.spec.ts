import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { snapshotDownload, SNAPSHOT_MANIFEST } from "./snapshot-download.js";
import { HubGatedError, HubTransferError } from "./errors.js";
import { startFixture, tinyModel, type Fixture } from "./spec-helpers.js";
import { rejectionOf } from "./spec-helpers.js";

let fx: Fixture;
let dir: string;
const big = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);

beforeEach(async () => {
  fx = await startFixture();
  fx.hub.admin.commit("org/aligned", { "weights/big.bin": big, "tokenizer/vocab.txt": "a\nb\n" });
  dir = await mkdtemp(join(tmpdir(), "snap-"));
});
afterEach(async () => {
  await fx.hub.close();
  await rm(dir, { recursive: true, force: true });
});

describe("snapshotDownload", () => {
  it("downloads every file of one commit and verifies it", async () => {
    const res = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir });
    expect(res.commit).toBe(fx.hub.admin.repo("org/aligned")!.branches.main);
    expect(res.files.map((f) => f.path).sort()).toEqual([".gitattributes", "README.md", "config.json", "model.safetensors", "tokenizer/vocab.txt", "weights/big.bin"]);
    expect(new Uint8Array(await readFile(join(dir, "weights/big.bin")))).toEqual(big);
    expect(new Uint8Array(await readFile(join(dir, "model.safetensors")))).toEqual(tinyModel(1));
    expect(await readFile(join(dir, "tokenizer/vocab.txt"), "utf8")).toBe("a\nb\n");
    const manifest = JSON.parse(await readFile(join(dir, SNAPSHOT_MANIFEST), "utf8"));
    expect(Object.keys(manifest.files)).toHaveLength(6);
    expect((await readdir(join(dir, "weights"))).filter((f) => f.includes("incomplete"))).toEqual([]);
  });

  it("skips complete files on a second run and re-fetches a corrupted one", async () => {
    await snapshotDownload({ client: fx.client, repo: "org/aligned", dir });
    fx.hub.admin.clearRequests();
    const again = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir });
    expect(again.files.every((f) => f.skipped)).toBe(true);
    expect(again.bytesDownloaded).toBe(0);
    expect(fx.hub.admin.requests.filter((r) => r.path.includes("/resolve/"))).toHaveLength(0);
    // Same size, different content, no manifest entry → re-hashed and fetched again.
    const manifest = JSON.parse(await readFile(join(dir, SNAPSHOT_MANIFEST), "utf8"));
    delete manifest.files["weights/big.bin"];
    await writeFile(join(dir, SNAPSHOT_MANIFEST), JSON.stringify(manifest));
    await writeFile(join(dir, "weights/big.bin"), new Uint8Array(big.byteLength));
    const third = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir });
    expect(third.files.find((f) => f.path === "weights/big.bin")!.skipped).toBe(false);
    expect(new Uint8Array(await readFile(join(dir, "weights/big.bin")))).toEqual(big);
  });

  it("resumes an interrupted file with a Range request from where it stopped", async () => {
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", method: "GET", truncateAfter: 70_000, count: 1 });
    const first = await rejectionOf<Error>(snapshotDownload({ client: fx.client, repo: "org/aligned", dir, include: (p) => p === "weights/big.bin", maxAttempts: 1 }));
    expect(first).toBeInstanceOf(HubTransferError);
    const partial = join(dir, "weights", ".big.bin.incomplete");
    // 70,000 normally; less if the machine is so loaded that queued chunks were dropped at the cut.
    const have = (await stat(partial)).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThanOrEqual(70_000);
    fx.hub.admin.clearRequests();
    const second = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir, include: (p) => p === "weights/big.bin" });
    expect(second.files[0]).toMatchObject({ path: "weights/big.bin", skipped: false, resumedFrom: have });
    expect(second.bytesDownloaded).toBe(big.byteLength - have);
    expect(fx.hub.admin.requests.find((r) => r.path.includes("/resolve/"))!.range).toBe(`bytes=${have}-`);
    expect(new Uint8Array(await readFile(join(dir, "weights/big.bin")))).toEqual(big);
    await expect(stat(partial)).rejects.toThrow();
  });

  it("retries within one run when a download is cut, resuming each time", async () => {
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", method: "GET", truncateAfter: 50_000, count: 2 });
    const res = await snapshotDownload({ client: fx.client, repo: "org/aligned", dir, include: (p) => p === "weights/big.bin" });
    expect(new Uint8Array(await readFile(join(dir, "weights/big.bin")))).toEqual(big);
    expect(res.bytesDownloaded).toBeGreaterThanOrEqual(big.byteLength);
    const starts = fx.hub.admin.requests.filter((r) => r.range).map((r) => Number(/bytes=(\d+)-$/.exec(r.range!)![1]));
    expect(starts).toHaveLength(2);
    expect(starts[0]).toBeGreaterThan(0);
    // [50000, 100000] normally (see the resume test about loaded machines).
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(starts.every((s, i) => s > 0 && s <= 50_000 * (i + 1) && (i === 0 || s > starts[i - 1]!))).toBe(true);
    expect(fx.sleeps).toHaveLength(2);
  });

  it("fails with HubGatedError on a gated repo, leaving nothing behind", async () => {
    fx.hub.admin.setGated("org/aligned", "manual");
    await expect(snapshotDownload({ client: fx.anon, repo: "org/aligned", dir })).rejects.toThrow(HubGatedError);
    expect((await readdir(dir)).filter((f) => !f.startsWith("."))).toEqual([]);
  });
});
