/**
 * Publishing an ExPO'd LoRA adapter: an adapter repo (base_model θ0, relation adapter, tags
 * expo + lora, library peft), θ1 linked at its revision, a peft usage snippet; rerunning
 * finds its own repo again (the card names θ0 alone, the provenance file names both).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extrapolate } from "../expo/extrapolate.js";
import { createHubClient, readTextFile, type HubClient } from "../hub/index.js";
import { startLocalHub, type LocalHub } from "../hub-server/index.js";
import { writeTinyAdapter } from "../synthetic/tiny-adapter.js";
import { writeTinyModel } from "../synthetic/tiny-model.js";
import { parseCardMetadata } from "./card.js";
import { publishModel } from "./publish.js";

const TOKEN = "hf_adaptercardtoken0001";
const FIXTURE = new URL("./fixtures/search.json", import.meta.url);
let hub: LocalHub;
let client: HubClient;
let tmp: string;

beforeAll(async () => {
  hub = await startLocalHub();
  hub.admin.addToken(TOKEN, "expo-bot");
  client = createHubClient({ token: TOKEN, hubUrl: hub.url, retry: { maxRetries: 0 }, sleep: async () => undefined });
  tmp = await mkdtemp(join(tmpdir(), "adapter-card-"));
  await writeTinyModel({ dir: join(tmp, "sft"), hiddenSize: 16, heads: 2, seed: 5, card: { license: "mit" } });
  await writeTinyAdapter({ base: join(tmp, "sft"), dir: join(tmp, "lora"), baseModelName: "org/tiny-sft", r: 4, loraAlpha: 8, useRslora: true, modulesToSave: ["lm_head"], card: { base_model: "org/tiny-sft", library_name: "peft", tags: ["expo", "lora"], license: "mit" } });
  const files = async (dir: string) => Object.fromEntries(await Promise.all((await (await import("node:fs/promises")).readdir(dir)).map(async (n) => [n, await readFile(join(dir, n))] as const)));
  hub.admin.createRepo("org/tiny-sft", { files: await files(join(tmp, "sft")) });
  hub.admin.createRepo("org/tiny-dpo-lora", { files: await files(join(tmp, "lora")) });
  await mkdir(join(tmp, "search"));
  await copyFile(FIXTURE, join(tmp, "search", "search.json"));
  const alpha = JSON.parse(await readFile(FIXTURE, "utf8")).chosenAlpha;
  await extrapolate({ sft: join(tmp, "sft"), aligned: join(tmp, "lora"), alpha, out: join(tmp, "out"), sources: { sft: { repo: "org/tiny-sft" }, aligned: { repo: "org/tiny-dpo-lora" } } });
});
afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("publishing a LoRA adapter", () => {
  it("publishes an adapter repo whose card carries the adapter metadata, and reruns idempotently", async () => {
    const params = { client, modelDir: join(tmp, "out"), reportPath: join(tmp, "search", "search.json"), namespace: "expo-bot" };
    const first = await publishModel(params);
    expect(first).toMatchObject({ status: "created", repo: "expo-bot/tiny-dpo-lora-ExPO" });
    const readme = (await readTextFile({ client, repo: first.repo, path: "README.md" }))!;
    const meta = parseCardMetadata(readme)!;
    expect(meta).toMatchObject({ base_model: "org/tiny-sft", base_model_relation: "adapter", library_name: "peft", license: "mit" });
    expect(meta.tags).toEqual(expect.arrayContaining(["expo", "lora"]));
    expect(meta.tags).not.toContain("merge");
    const sha1 = hub.admin.repo("org/tiny-dpo-lora")!.branches.main!;
    expect(readme).toContain(`[${sha1}](${hub.url}/org/tiny-dpo-lora/tree/${sha1})`);
    expect(readme).toContain("## A LoRA adapter");
    expect(readme).toMatch(/rsLoRA scales by `lora_alpha`\/√r/);
    expect(readme).toContain('model = PeftModel.from_pretrained(base, "expo-bot/tiny-dpo-lora-ExPO")');
    expect(readme).toContain('base = AutoModelForCausalLM.from_pretrained("org/tiny-sft"');
    const state = hub.admin.repo(first.repo)!;
    expect(Object.keys(state.commits[state.branches.main!]!.files).sort()).toEqual(expect.arrayContaining(["adapter_config.json", "adapter_model.safetensors", "expo_provenance.json"]));
    const again = await publishModel(params);
    expect(again).toMatchObject({ status: "unchanged", repo: first.repo });
  });
});
