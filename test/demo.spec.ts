/**
 * `npm run demo`'s outcome, asserted: the whole flow on synthetic models must publish
 * `expo-bot/synthetic-dpo-ExPO` with a computed, significant gain at some α > 0, refuse the
 * unrelated pair before any job, and take θ1 published as a LoRA adapter through the same flow
 * to an adapter repo.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDemo, type DemoOutcome } from "../src/demo/run-demo.js";
import { startLocalHub } from "../src/hub-server/index.js";
import { createHubClient, getModelInfo, readTextFile } from "../src/hub/index.js";

const root = await mkdtemp(join(tmpdir(), "expo-demo-"));
afterAll(() => rm(root, { recursive: true, force: true }));

describe("npm run demo", () => {
  let outcome: DemoOutcome;
  const lines: string[] = [];

  it("runs the whole flow and says its models are synthetic", async () => {
    outcome = await runDemo({ dir: join(root, "demo"), log: (l) => lines.push(l) });
    expect(lines.join("\n")).toContain("SYNTHETIC");
  }, 300_000);

  it("publishes the -ExPO repo with a significant gain at α > 0", async () => {
    const r = outcome.aligned.result!;
    expect(outcome.aligned.state).toBe("published");
    expect(outcome.aligned.check?.verdict).toBe("pass");
    expect(r.chosenAlpha).toBeGreaterThan(0);
    const chosen = r.alphas.find((a) => a.alpha === r.chosenAlpha)!;
    expect(chosen.ci[0]).toBeGreaterThan(0); // the gain's interval excludes zero
    expect(r.alphas.find((a) => a.alpha === 0)).toBeDefined();
    expect(r.published?.repo).toBe("expo-bot/synthetic-dpo-ExPO");
    // The paper's Figure 1: halfway back to θ0 scores below θ1.
    expect(outcome.aligned.sanity?.alpha).toBe(-0.5);
    expect(outcome.aligned.sanity!.gain).toBeLessThan(0);
    for (const plot of outcome.aligned.plots) expect((await stat(plot)).size).toBeGreaterThan(1000);
    expect(outcome.aligned.plots.some((p) => p.endsWith(".png"))).toBe(true);
    expect(outcome.aligned.comment).toContain("expo-bot/synthetic-dpo-ExPO");
  });

  it("labels each number for what it is: the decision's adjusted interval, the published held-out gain, per-α differences", () => {
    const out = lines.join("\n");
    expect(out).toContain("Per-α differences on the prompts the search used (each CI for that α alone):");
    expect(out).toMatch(/^Decision: chosen α = [\d.]+: .*Bonferroni-adjusted for choosing among \d+ α.* — the selection's evidence: this interval allows for choosing among \d+ α, so it is wider than the table's 95 % CI for α = [\d.]+; the published gain below is the figure to quote$/m);
    expect(out).toMatch(/^Published gain: \(Δ reward vs α=0, 95 % CI\) on \d+ held-out prompts: [+−][\d.]+ \[/m);
    // The comment's headline is that same held-out gain.
    const gain = /held-out prompts: ([+−][\d.]+) \[/.exec(out)![1];
    expect(outcome.aligned.comment).toContain(`Published gain: on`);
    expect(outcome.aligned.comment).toContain(`'s by **${gain}**`);
  });

  it("leaves the published model on the local Hub with the card metadata the Hub expects", async () => {
    const hub = await startLocalHub({ dir: join(root, "demo", "hub") });
    try {
      const client = createHubClient({ hubUrl: hub.url });
      const info = await getModelInfo({ client, repo: "expo-bot/synthetic-dpo-ExPO" });
      expect(info.sha).toBe(outcome.aligned.result!.published!.commit);
      expect(info.baseModels).toEqual(["demo/synthetic-dpo", "demo/synthetic-sft"]);
      expect(info.tags).toEqual(expect.arrayContaining(["expo", "merge"]));
      const md = outcome.aligned.card!.metadata;
      expect(md).toMatchObject({ base_model: ["demo/synthetic-dpo", "demo/synthetic-sft"], base_model_relation: "merge", license: "apache-2.0", library_name: "transformers", pipeline_tag: "text-generation" });
      expect(outcome.aligned.card!.text).toMatch(/alpha-curve\.(png|svg)/);
    expect(outcome.aligned.card!.text).toContain("SYNTHETIC");
    } finally {
      await hub.close();
    }
  });

  it("refuses the unrelated pair at the pre-check, with its reasons, and runs no job for it", () => {
    expect(outcome.unrelated.state).toBe("refused");
    expect(outcome.unrelated.result).toBeNull();
    expect(outcome.unrelated.reasons.join(" ")).toMatch(/independently trained/);
    expect(outcome.unrelated.comment).toContain("expo-bot:refused");
  });

  it("takes θ1 published as a LoRA adapter through check, search and publish, to an adapter repo", async () => {
    const a = outcome.adapter!;
    expect(a.state).toBe("published");
    expect(a.check).toMatchObject({ verdict: "pass", r: 4 });
    const r = a.result!;
    expect(r.chosenAlpha).toBeGreaterThan(0);
    expect(r.alphas.find((x) => x.alpha === r.chosenAlpha)!.ci[0]).toBeGreaterThan(0);
    expect(r.published?.repo).toBe("expo-bot/synthetic-dpo-lora-ExPO");
    // The embedded engine loaded θ0 and the adapter once and switched every α in place.
    expect(a.cost?.alphaVisits).toBeGreaterThan(1);
    expect(a.cost?.modelSwitches).toBe(1);
    // The published adapter is θ1's with lora_alpha × (1 + α).
    expect(a.loraAlpha.published).toBeCloseTo(a.loraAlpha.theta1 * (1 + r.chosenAlpha!), 12);
    expect(a.card!.metadata).toMatchObject({ base_model: "demo/synthetic-sft", base_model_relation: "adapter", library_name: "peft" });
    expect(a.card!.metadata.tags).toEqual(expect.arrayContaining(["expo", "lora"]));
    expect(a.card!.text).toContain("PeftModel.from_pretrained(base, \"expo-bot/synthetic-dpo-lora-ExPO\")");
    expect(a.comment).toContain("expo-bot/synthetic-dpo-lora-ExPO");
    const hub = await startLocalHub({ dir: join(root, "demo", "hub") });
    try {
      const client = createHubClient({ hubUrl: hub.url });
      const info = await getModelInfo({ client, repo: "expo-bot/synthetic-dpo-lora-ExPO" });
      expect(info.files).toEqual(expect.arrayContaining(["adapter_config.json", "adapter_model.safetensors"]));
      expect(info.files).not.toContain("model.safetensors");
      expect(JSON.parse((await readTextFile({ client, repo: info.repo, path: "adapter_config.json" }))!).base_model_name_or_path).toBe("demo/synthetic-sft");
    } finally {
      await hub.close();
    }
  });
});
