/**
 * Publishing against the local Hub (src/hub-server) with the real @huggingface/hub client.
 */
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createHubClient, readTextFile, type HubClient } from "../hub/index.js";
import { startLocalHub, type LocalHub } from "../hub-server/index.js";
import { writeTinyModel } from "../synthetic/tiny-model.js";
import { parseCardMetadata } from "./card.js";
import { renderReceivedComment, renderResultComment } from "./comments.js";
import { BOT_DISCUSSION_TITLE, postBotComment } from "./discussion.js";
import { PublishRefusedError, publishModel, type PublishParams } from "./publish.js";
import { sourcesHash } from "./naming.js";
import { readSearchReport } from "./report.js";

const TOKEN = "hf_localtestbottoken0000";
const BOT = "expo-bot";
const FIXTURE = new URL("./fixtures/search.json", import.meta.url);

let hub: LocalHub;
let tmp: string;
let modelDir: string;
let reportPath: string;
let client: HubClient;
let seq = 0;

function card(meta: Record<string, unknown>): string {
  return `---\n${Object.entries(meta).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n")}\n---\n# model\n`;
}

/** θ1/θ0 pair on the local Hub under a fresh owner; returns their ids. */
function sources(opts: { licence?: Record<string, unknown>; gated?: false | "manual"; privateSft?: boolean; name?: string } = {}): { theta1: string; theta0: string } {
  const owner = `org${++seq}`;
  const theta1 = `${owner}/${opts.name ?? "tiny-dpo"}`;
  const theta0 = `${owner}/tiny-sft`;
  hub.admin.createRepo(theta0, { files: { "README.md": card({ license: "mit" }), "config.json": "{}" }, private: opts.privateSft ?? false });
  hub.admin.createRepo(theta1, {
    files: {
      "README.md": card({ base_model: theta0, tags: ["expo"], ...(opts.licence ?? { license: "mit" }) }),
      "config.json": "{}",
      LICENSE: "MIT License\n\nCopyright (c) the authors\n",
      "USE_POLICY.md": "# Use policy\n",
    },
    gated: opts.gated ?? false,
  });
  return { theta1, theta0 };
}

function params(theta1: string, theta0: string, extra: Partial<PublishParams> = {}): PublishParams {
  return { client, modelDir, reportPath, namespace: BOT, theta1: { id: theta1, revision: "main" }, theta0: { id: theta0, revision: "main" }, ...extra };
}

function commitRequests(repo: string) {
  return hub.admin.requests.filter((r) => r.method === "POST" && r.path === `/api/models/${repo}/commit/main`);
}
function lfsPuts() {
  return hub.admin.requests.filter((r) => r.method === "PUT" && r.path.startsWith("/__lfs/upload/"));
}

beforeAll(async () => {
  hub = await startLocalHub();
  hub.admin.addToken(TOKEN, BOT);
  client = createHubClient({ token: TOKEN, hubUrl: hub.url, retry: { maxRetries: 0 }, sleep: async () => undefined });
  tmp = await mkdtemp(join(tmpdir(), "publish-spec-"));
  modelDir = join(tmp, "model");
  await writeTinyModel({ dir: modelDir, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 2, kvHeads: 1, shards: 3, seed: 7 });
  const reportDir = join(tmp, "search");
  await writeFile(join(tmp, "placeholder"), "");
  await (await import("node:fs/promises")).mkdir(reportDir);
  reportPath = join(reportDir, "search.json");
  await copyFile(FIXTURE, reportPath);
  await writeFile(join(reportDir, "alpha-curve.svg"), '<svg xmlns="http://www.w3.org/2000/svg"></svg>\n');
  await writeFile(join(reportDir, "alpha-curve.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
});

afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.admin.clearFaults();
  hub.admin.clearRequests();
});

describe("publishModel", () => {
  it("publishes a fresh repo in one commit, with the card, plot, weights and θ1's licence files", async () => {
    const { theta1, theta0 } = sources();
    const result = await publishModel(params(theta1, theta0));
    expect(result.status).toBe("created");
    expect(result.repo).toBe(`${BOT}/tiny-dpo-ExPO`);
    expect(commitRequests(result.repo)).toHaveLength(1);

    const state = hub.admin.repo(result.repo)!;
    const head = state.commits[state.branches.main!]!;
    const paths = Object.keys(head.files).sort();
    expect(paths).toEqual(
      expect.arrayContaining(["README.md", "LICENSE", "USE_POLICY.md", "alpha-curve.svg", "alpha-curve.png", "config.json", "model.safetensors.index.json", "tokenizer.json"]),
    );
    expect(paths.filter((p) => p.endsWith(".safetensors"))).toHaveLength(3);
    expect(head.files["model-00001-of-00003.safetensors"]?.lfs).toBe(true);

    const readme = (await readTextFile({ client, repo: result.repo, path: "README.md" }))!;
    const meta = parseCardMetadata(readme)!;
    expect(meta.base_model).toEqual([theta1, theta0]);
    expect(meta).toMatchObject({ base_model_relation: "merge", license: "mit", library_name: "transformers", pipeline_tag: "text-generation" });
    expect(meta.tags).toEqual(expect.arrayContaining(["expo", "merge"]));
    expect(readme).toContain("![Mean reward against α, with confidence intervals](alpha-curve.png)");
    // Revisions are resolved to the commit shas the card records.
    expect(readme).toContain(hub.admin.repo(theta1)!.branches.main!);
    expect(readme).toContain("[LICENSE](LICENSE), [USE\\_POLICY.md](USE_POLICY.md)");
  });

  it("is a no-op when rerun after success (no commit, nothing uploaded)", async () => {
    const { theta1, theta0 } = sources();
    const first = await publishModel(params(theta1, theta0));
    hub.admin.clearRequests();
    const second = await publishModel(params(theta1, theta0));
    expect(second.status).toBe("unchanged");
    expect(second.commit).toBeNull();
    expect(second.unchanged.length).toBe(first.uploaded.length);
    expect(commitRequests(first.repo)).toHaveLength(0);
    expect(lfsPuts()).toHaveLength(0);
  });

  it("commits only what changed when the report changes", async () => {
    const { theta1, theta0 } = sources();
    const first = await publishModel(params(theta1, theta0));
    const changed = await publishModel(params(theta1, theta0, { runUrl: "https://github.com/o/r/actions/runs/2" }));
    expect(changed.status).toBe("updated");
    expect(changed.uploaded).toEqual(["README.md"]);
    expect(changed.commit).not.toBe(first.commit);
  });

  it("resumes after the commit failed: LFS objects already uploaded are not sent again", async () => {
    const { theta1, theta0 } = sources({ name: "resume-commit" });
    const repo = `${BOT}/resume-commit-ExPO`;
    // Fresh weights: the local Hub's blob store is shared, so reused weights would already be there.
    const dir = join(tmp, "model-resume-commit");
    await writeTinyModel({ dir, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 2, kvHeads: 1, shards: 3, seed: 42 });
    hub.admin.injectFault({ path: `/api/models/${repo}/commit/main`, method: "POST", status: 500 });
    await expect(publishModel(params(theta1, theta0, { modelDir: dir }))).rejects.toThrow(/HTTP 500/);
    const sentFirst = lfsPuts().length;
    expect(sentFirst).toBeGreaterThan(0);
    hub.admin.clearRequests();
    const result = await publishModel(params(theta1, theta0, { modelDir: dir }));
    expect(result.status).toBe("created");
    expect(lfsPuts()).toHaveLength(0);
    expect(commitRequests(repo)).toHaveLength(1);
  });

  it("resumes after an upload broke midway: only the missing objects are sent", async () => {
    const { theta1, theta0 } = sources({ name: "resume-upload" });
    // Fresh weights so no blob is already in the store from other tests.
    const dir = join(tmp, "model-resume");
    await writeTinyModel({ dir, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 2, kvHeads: 1, shards: 3, seed: 99 });
    // A slow failure: the client aborts its other uploads on the first error, so the objects
    // sent beside the failing one must have landed before it fails for the rerun to skip them.
    hub.admin.injectFault({ path: "/__lfs/upload/", method: "PUT", status: 503, count: 1, delayMs: 500 });
    await expect(publishModel(params(theta1, theta0, { modelDir: dir }))).rejects.toThrow();
    // The other uploads of the broken run may still be starting or streaming when it rejects:
    // let them land (no PUT in flight, and the count unchanged for a while).
    const puts = () => hub.admin.requests.filter((r) => r.method === "PUT");
    for (let seen = -1, stable = 0; stable < 3; await new Promise((r) => setTimeout(r, 100))) {
      const now = puts();
      const settled = now.every((r) => r.status !== 0) && now.length === seen;
      stable = settled ? stable + 1 : 0;
      seen = now.length;
    }
    const okFirst = hub.admin.requests.filter((r) => r.method === "PUT" && r.path.startsWith("/__lfs/upload/") && r.status === 200).map((r) => r.path);
    hub.admin.clearRequests();
    const result = await publishModel(params(theta1, theta0, { modelDir: dir }));
    expect(result.status).toBe("created");
    const second = lfsPuts().map((r) => r.path);
    for (const path of okFirst) expect(second).not.toContain(path);
    const state = hub.admin.repo(result.repo)!;
    const shards = Object.entries(state.commits[state.branches.main!]!.files).filter(([p]) => p.endsWith(".safetensors"));
    const oid = (path: string) => path.split("/").pop()!.split("?")[0]!;
    // Objects sent by the broken run were kept; the rerun sent only the rest.
    expect(okFirst.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    const lfsOids = new Set(Object.values(state.commits[state.branches.main!]!.files).filter((f) => f.lfs).map((f) => f.sha256));
    for (const path of [...okFirst, ...second]) expect(lfsOids.has(oid(path))).toBe(true);
    expect(shards).toHaveLength(3);
  });

  it("never overwrites a model built from other sources: takes the hashed alternate name", async () => {
    const { theta1, theta0 } = sources({ name: "taken" });
    const taken = `${BOT}/taken-ExPO`;
    hub.admin.createRepo(taken, { files: { "README.md": card({ base_model: ["someone/else", "someone/else-sft"], base_model_relation: "merge" }), "model.safetensors": "x" } });
    const before = hub.admin.repo(taken)!.branches.main;
    const result = await publishModel(params(theta1, theta0));
    expect(result.repo).toBe(`${BOT}/taken-ExPO-${sourcesHash({ id: theta1 }, { id: theta0 })}`);
    expect(result.renamedFrom?.repo).toBe(taken);
    expect(hub.admin.repo(taken)!.branches.main).toBe(before);
    // Deterministic: a rerun finds its own repo under the alternate name and changes nothing.
    const again = await publishModel(params(theta1, theta0));
    expect(again).toMatchObject({ repo: result.repo, status: "unchanged" });
  });

  it("recognises its own repo by the provenance file when the card lost base_model", async () => {
    const { theta1, theta0 } = sources({ name: "edited" });
    const repo = `${BOT}/edited-ExPO`;
    const prov = (t1: string, t0: string) => JSON.stringify({ sources: { aligned: { path: "/x", repo: t1 }, sft: { path: "/y", repo: t0 } }, alpha: 0.3 });
    hub.admin.createRepo(repo, { files: { "README.md": "# hand-edited card\n", "expo_provenance.json": prov(theta1, theta0) } });
    const result = await publishModel(params(theta1, theta0));
    expect(result).toMatchObject({ repo, status: "updated" });
    expect(result.deleted).toEqual(["expo_provenance.json"]); // the tiny folder has none of its own

    const other = sources({ name: "foreign" });
    hub.admin.createRepo(`${BOT}/foreign-ExPO`, { files: { "README.md": "# card\n", "expo_provenance.json": prov("x/a", "x/b") } });
    const moved = await publishModel(params(other.theta1, other.theta0));
    expect(moved.repo).toMatch(/^expo-bot\/foreign-ExPO-[0-9a-f]{8}$/);
  });

  it("refuses gated and private sources unless allowed", async () => {
    const gated = sources({ name: "gated", gated: "manual" });
    const err = await publishModel(params(gated.theta1, gated.theta0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRefusedError);
    expect((err as PublishRefusedError).reasons[0]!.message).toMatch(/is gated .*allowGated/);
    expect(hub.admin.repo(`${BOT}/gated-ExPO`)).toBeUndefined();

    hub.admin.setGated(gated.theta1, "manual", [BOT]);
    const ok = await publishModel(params(gated.theta1, gated.theta0, { access: { allowGated: true } }));
    expect(ok.status).toBe("created");

    const priv = sources({ name: "priv", privateSft: true });
    await expect(publishModel(params(priv.theta1, priv.theta0))).rejects.toThrow(/is private/);
  });

  it("refuses licences that forbid derivatives", async () => {
    const nd = sources({ name: "nd", licence: { license: "cc-by-nd-4.0" } });
    await expect(publishModel(params(nd.theta1, nd.theta0))).rejects.toThrow(/cc-by-nd-4\.0, which does not allow derivative works/);
    const otherNd = sources({ name: "other-nd", licence: { license: "other", license_name: "acme-nd-1.0" } });
    await expect(publishModel(params(otherNd.theta1, otherNd.theta0))).rejects.toBeInstanceOf(PublishRefusedError);
  });

  it("honours a licence's naming rule and copies its notice", async () => {
    const llama = sources({ name: "tulu-8b-dpo", licence: { license: "llama3.1" } });
    const result = await publishModel(params(llama.theta1, llama.theta0));
    expect(result.repo).toBe(`${BOT}/Llama-tulu-8b-dpo-ExPO`);
    expect(result.card).toContain("> Built with Llama");
    expect(parseCardMetadata(result.card)!.license).toBe("llama3.1");
  });

  it("keeps hostile card text from θ1 harmless", async () => {
    const evil = sources({ name: "evil", licence: { license: "other", license_name: "<img src=x onerror=alert(1)> [x](javascript:alert(1)) @octocat", license_link: "javascript:alert(1)" } });
    const result = await publishModel(params(evil.theta1, evil.theta0, { dryRun: true }));
    const body = result.card.slice(result.card.indexOf("\n---\n", 4) + 5);
    expect(body).not.toMatch(/<img|(^|[^\\])\]\(javascript:|(^|[^\\])@octocat/);
    expect(parseCardMetadata(result.card)!.license_name).toBe("<img src=x onerror=alert(1)> [x](javascript:alert(1)) @octocat");
  });

  it("--dry-run writes nothing", async () => {
    const { theta1, theta0 } = sources({ name: "dry" });
    const result = await publishModel(params(theta1, theta0, { dryRun: true }));
    expect(result.status).toBe("dry-run");
    expect(result.card).toContain("# dry-ExPO");
    expect(hub.admin.repo(`${BOT}/dry-ExPO`)).toBeUndefined();
  });

  it("refuses a report without gain", async () => {
    const { theta1, theta0 } = sources({ name: "nogain" });
    const summary = JSON.parse(await (await import("node:fs/promises")).readFile(FIXTURE, "utf8"));
    const path = join(tmp, "nogain.json");
    await writeFile(path, JSON.stringify({ ...summary, chosenAlpha: null }));
    await expect(publishModel(params(theta1, theta0, { reportPath: path }))).rejects.toThrow(/no α beat α = 0/);
  });
});

describe("postBotComment", () => {
  it("opens one thread per θ1 and finds it again", async () => {
    const { theta1 } = sources({ name: "thread" });
    const received = renderReceivedComment({ theta1: { id: theta1 }, requestId: "r1", queued: true });
    const first = await postBotComment({ client, repo: theta1, comment: received });
    expect(first).toMatchObject({ posted: true, createdThread: true });
    const { summary } = await readSearchReport(reportPath);
    const result = renderResultComment({ theta1: { id: theta1 }, rows: summary.rows, chosenAlpha: 0.3, model: { repo: `${BOT}/thread-ExPO` }, requestId: "r1" });
    hub.admin.clearRequests();
    const second = await postBotComment({ client, repo: theta1, comment: result });
    expect(second).toMatchObject({ posted: true, createdThread: false });
    // One listing per post: the thread found for the duplicate check is the one commented on.
    expect(hub.admin.requests.filter((r) => r.method === "GET" && r.path.startsWith(`/api/models/${theta1}/discussions?`))).toHaveLength(1);
    const threads = hub.admin.discussions(theta1);
    expect(threads).toHaveLength(1);
    expect(threads[0]).toMatchObject({ title: BOT_DISCUSSION_TITLE, author: BOT });
    expect(threads[0]!.events.map((e) => e.content)).toEqual([received, result]);
    // A redelivered request does not comment twice.
    expect(await postBotComment({ client, repo: theta1, comment: result })).toMatchObject({ posted: false, reason: "duplicate" });
    expect(hub.admin.discussions(theta1)[0]!.events).toHaveLength(2);
  });

  it("does not adopt someone else's thread with the same title", async () => {
    const { theta1 } = sources({ name: "impostor" });
    hub.admin.addToken("hf_someoneelse000000000", "mallory");
    const mallory = createHubClient({ token: "hf_someoneelse000000000", hubUrl: hub.url });
    await postBotComment({ client: mallory, repo: theta1, comment: "hi", author: "mallory" });
    await postBotComment({ client, repo: theta1, comment: renderReceivedComment({ theta1: { id: theta1 } }) });
    expect(hub.admin.discussions(theta1)).toHaveLength(2);
  });

  it("says so when discussions are disabled", async () => {
    const { theta1 } = sources({ name: "closed" });
    hub.admin.setDiscussionsDisabled(theta1, true);
    const out = await postBotComment({ client, repo: theta1, comment: renderReceivedComment({ theta1: { id: theta1 } }) });
    expect(out).toMatchObject({ posted: false, reason: "discussions-disabled" });
    if (!out.posted && out.reason === "discussions-disabled") expect(out.message).toContain(`${theta1} has discussions disabled`);
  });
});
