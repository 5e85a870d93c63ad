import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCardMetadata, renderModelCard, type ModelCardInput } from "./card.js";
import { parseCommentMarker, renderFailedComment, renderReceivedComment, renderRefusedComment, renderResultComment } from "./comments.js";
import { normalizeSearchReport } from "./report.js";
import { TEMPLATE_NAMES, templateSource } from "./templates.js";

const fixture = normalizeSearchReport(JSON.parse(readFileSync(new URL("./fixtures/search.json", import.meta.url), "utf8")), "fixtures/search.json");

function cardInput(overrides: Partial<ModelCardInput> = {}): ModelCardInput {
  return {
    repoId: "expo-bot/zephyr-7b-beta-ExPO",
    theta1: { id: "HuggingFaceH4/zephyr-7b-beta", revision: "b70e0c9a2d9e14bd1e812d3c398e5f313e93b473" },
    theta0: { id: "HuggingFaceH4/mistral-7b-sft-beta", revision: "a4c3b0f1e2d3c4b5a6978877665544332211aabb" },
    search: fixture,
    licence: { license: "mit" },
    licenceFiles: ["LICENSE"],
    ...overrides,
  };
}

/** The unescaped things a hostile string could smuggle into rendered Markdown. */
function expectHarmless(markdown: string): void {
  expect(markdown).not.toMatch(/<img|<script|<b>|onerror=alert\(1\)>/i);
  expect(markdown).not.toMatch(/(^|[^\\])\]\(javascript:/i);
  expect(markdown).not.toMatch(/(^|[^\\])@octocat/);
  expect(markdown).not.toMatch(/^#+ (pwned|heading)/im);
}

describe("templates", () => {
  it("use no bare {{x}} and triple-stash only for *Md values", () => {
    const allowedHelpers = /^(md|url|path|code|num|signed|pct|alpha|link|eq|len)\s/;
    for (const name of TEMPLATE_NAMES) {
      const source = templateSource(name).replace(/\{\{!--[\s\S]*?--\}\}/g, "");
      for (const m of source.matchAll(/\{\{(\{?)([^}]*)\}?\}\}/g)) {
        const triple = m[1] === "{";
        const body = m[2]!.trim();
        if (triple) {
          expect(body, `${name}: {{{${body}}}}`).toMatch(/^[A-Za-z.]*Md$/);
        } else if (!/^[#/^!]|^else\b/.test(body)) {
          expect(body, `${name}: {{${body}}}`).toMatch(allowedHelpers);
        }
      }
    }
  });
});

describe("renderModelCard", () => {
  it("emits the metadata the Hub expects", () => {
    const card = renderModelCard(cardInput({ licence: { license: "other", license_name: "custom-licence", license_link: "LICENSE" } }));
    const meta = parseCardMetadata(card)!;
    expect(meta.base_model).toEqual(["HuggingFaceH4/zephyr-7b-beta", "HuggingFaceH4/mistral-7b-sft-beta"]);
    expect(meta.base_model_relation).toBe("merge");
    expect(meta.tags).toEqual(expect.arrayContaining(["expo", "merge"]));
    expect(meta).toMatchObject({ license: "other", license_name: "custom-licence", license_link: "LICENSE", library_name: "transformers", pipeline_tag: "text-generation" });
  });

  it("has the body the contract asks for", () => {
    const card = renderModelCard(cardInput());
    expect(card).toContain("https://arxiv.org/abs/2404.16792");
    expect(card).toContain("b70e0c9a2d9e14bd1e812d3c398e5f313e93b473");
    expect(card).toContain("## α = 0.3");
    expect(card).toMatch(/\| \*\*0\.3\*\* \(chosen\) \| 64 \| 1\.391 \| \+0\.187 \[\+0\.112, \+0\.262\] \| 64\.1% \| 236 \|/);
    expect(card).toContain("![Mean reward against α, with confidence intervals](alpha-curve.png)");
    expect(card).toContain('model_id = "expo-bot/zephyr-7b-beta-ExPO"');
    expect(card).toContain("npx expo-bot extrapolate --sft ./theta0 --aligned ./theta1 --alpha 0.3 --out ./model");
    expect(card).toContain("npx expo-bot publish --model ./model --report ./search/search.json --theta1 HuggingFaceH4/zephyr-7b-beta@b70e0c9a2d9e14bd1e812d3c398e5f313e93b473");
    expect(card).toContain("hf download HuggingFaceH4/mistral-7b-sft-beta --revision a4c3b0f1e2d3c4b5a6978877665544332211aabb --local-dir ./theta0");
    expect(card).toContain("@article{zheng2024weak");
    expect(card).toContain("[LICENSE](LICENSE)");
  });

  it("says when α was pinned", () => {
    const card = renderModelCard(cardInput({ search: { ...fixture, pinned: true, strategy: "pinned" } }));
    expect(card).toContain("pinned by the request");
    expect(card).not.toContain("expo-bot search");
  });

  it("keeps hostile licence text and search strings harmless, in YAML and body", () => {
    const evil = "x\n---\nlicense: apache-2.0\n<img src=x onerror=alert(1)> [a](javascript:alert(1)) @octocat";
    const card = renderModelCard(
      cardInput({
        licence: { license: "other", license_name: evil, license_link: "javascript:alert(1)" },
        search: { ...fixture, strategy: "grid`|`<script>", rewardModel: evil, prompts: "# pwned" },
        notices: ["<img src=x onerror=alert(1)>"],
      }),
    );
    const meta = parseCardMetadata(card)!;
    expect(meta.license).toBe("other");
    expect(meta.license_name).toBe(evil); // the YAML library quoted it: round-trips exactly
    const body = card.slice(card.indexOf("\n---\n", 4) + 5);
    expectHarmless(body);
    expect(body).not.toContain("`|`");
  });

  it("refuses invalid repo ids rather than rendering them", () => {
    expect(() => renderModelCard(cardInput({ repoId: "evil/<img src=x>" }))).toThrow(/not a Hub repo id/);
    expect(() => renderModelCard(cardInput({ theta1: { id: "a/b\n# x", revision: "main" } }))).toThrow(/θ1/);
  });
});

describe("comments", () => {
  const hostile = { id: "evil/<img src=x onerror=alert(1)>|`x` @octocat\n# heading" };
  const rows = fixture.rows;

  it("received", () => {
    const out = renderReceivedComment({ theta1: { id: "a/b" }, theta0: { id: "a/sft" }, queued: true, requestId: "req-1", runUrl: "https://github.com/o/r/actions/runs/1" });
    expect(parseCommentMarker(out)).toEqual({ kind: "received", requestId: "req-1" });
    expect(out).toContain("[a/b](https://huggingface.co/a/b)");
    expect(out).toContain("[run](https://github.com/o/r/actions/runs/1)");
    expectHarmless(renderReceivedComment({ theta1: hostile, theta0: hostile, runUrl: "javascript:alert(1)" }));
  });

  it("refused lists every reason with its level, escaped", () => {
    const out = renderRefusedComment({
      theta1: hostile,
      reasons: [
        { level: "error", message: "θ0 evil/<img src=x onerror=alert(1)> is not the parent: [x](javascript:alert(1))" },
        { level: "warning", message: "vocab | sizes\ndiffer @octocat" },
      ],
    });
    expect(parseCommentMarker(out)?.kind).toBe("refused");
    expect(out).toMatch(/^- \*\*error\*\*: /m);
    expect(out).toMatch(/^- \*\*warning\*\*: vocab \\\| sizes differ @&#8203;octocat$/m);
    expectHarmless(out);
  });

  it("refused at the publish stage explains licence/access, not lineage", () => {
    const out = renderRefusedComment({ theta1: { id: "a/b" }, stage: "publish", reasons: [{ level: "error", message: "θ1 a/b is licensed cc-by-nd-4.0" }] });
    expect(out).toContain("licences and access settings allow");
    expect(out).not.toContain("same lineage");
  });

  it("result: compact table, plot, model and run links", () => {
    const out = renderResultComment({
      theta1: { id: "HuggingFaceH4/zephyr-7b-beta" },
      rows,
      chosenAlpha: 0.3,
      model: { repo: "expo-bot/zephyr-7b-beta-ExPO", commit: "0123abcd" },
      plotUrl: "https://huggingface.co/expo-bot/zephyr-7b-beta-ExPO/resolve/main/alpha-curve.png",
      runUrl: "https://github.com/o/r/actions/runs/7",
    });
    expect(out).toContain("published [expo-bot/zephyr-7b-beta-ExPO](https://huggingface.co/expo-bot/zephyr-7b-beta-ExPO)");
    expect(out).toContain("| **0.3** | 64 | +0.187 [+0.112, +0.262] | 64.1% | 236 |");
    expect(out).toContain("![Mean reward against α](https://huggingface.co/expo-bot/zephyr-7b-beta-ExPO/resolve/main/alpha-curve.png)");
    expect(out).toContain("[commit](https://huggingface.co/expo-bot/zephyr-7b-beta-ExPO/commit/0123abcd)");
    expect(out).toContain("[Run](https://github.com/o/r/actions/runs/7)");
  });

  it("result: the held-out gain, length change, length-controlled flag, sanity, verdict, n, dropped and truncation", () => {
    const out = renderResultComment({
      theta1: { id: "HuggingFaceH4/zephyr-7b-beta" },
      rows: [
        { alpha: 0, meanReward: 1, delta: 0, n: 500, meanLength: 200, truncated: 0.01 },
        { alpha: 0.2, meanReward: 1.1, delta: 0.1, deltaCi: [0.01, 0.2], winRate: 0.55, n: 47, meanLength: 210, dropped: true, truncated: 0 },
        { alpha: 0.3, meanReward: 1.2, delta: 0.2, deltaCi: [0.1, 0.3], winRate: 0.6, n: 500, meanLength: 230, truncated: 0.04 },
      ],
      chosenAlpha: 0.3,
      model: { repo: "expo-bot/zephyr-7b-beta-ExPO" },
      reported: { source: "held-out", n: 250, delta: 0.15, deltaCi: [0.02, 0.28], winRate: 0.57, lengthRatio: 1.12, lengthControlled: 0.05, lengthControlledCi: [-0.08, 0.18], lengthControlledSignificant: false },
      sanity: { alpha: -0.5, n: 64, delta: -0.4, deltaCi: [-0.6, -0.2], passed: true, note: "as expected" },
      verdict: { verdict: "warn", reasons: ["θ1 card names a different parent"] },
    });
    expect(out).toContain("Published gain: on 250 held-out prompts that did not choose α, its mean reward differs from [HuggingFaceH4/zephyr-7b-beta](https://huggingface.co/HuggingFaceH4/zephyr-7b-beta)'s by **+0.150** (95% CI +0.020 to +0.280), answers **+12 %** longer");
    expect(out).toContain("at equal length +0.050 (−0.080 to +0.180)");
    expect(out).toContain("At equal length the gain is not significant");
    expect(out).toContain("Pre-check on the runner: **warn**:");
    expect(out).toContain("- θ1 card names a different parent");
    expect(out).toContain("Sanity check: α = -0.5 (halfway back to θ0) changed the mean reward by −0.400 (95% CI −0.600 to −0.200) relative to θ1 on 64 prompts");
    // The table is labelled as per-α differences, and the chosen row (+0.200 [+0.100, +0.300])
    // is told apart from the published gain (+0.150, held out) rather than left as a second claim.
    expect(out).toContain("Per-α differences from α = 0 (θ1) on the prompts the search used, each with a 95% CI for that α alone; the chosen row is measured on the prompts that chose it, so it is biased upward (the published gain above is measured apart)");
    expect(out).toContain("| α | n | Δ mean reward vs α = 0 (95% CI) |");
    expect(out.match(/\+0\.150/g)).toHaveLength(1);
    expect(out).toContain("| 0.2 (dropped) | 47 | +0.100 [+0.010, +0.200] | 55.0% | 210 | 0.0% |");
    expect(out).toContain("| **0.3** | 500 | +0.200 [+0.100, +0.300] | 60.0% | 230 | 4.0% |");
  });

  it("received: states the pre-check's warnings instead of 'passed'", () => {
    const out = renderReceivedComment({ theta1: { id: "a/b" }, queued: true, precheckWarnings: ["θ1 moved further from θ0 than usual"] });
    expect(out).toContain("The pre-check passed with a warning:");
    expect(out).toContain("- θ1 moved further from θ0 than usual");
    expect(renderReceivedComment({ theta1: { id: "a/b" }, queued: true })).toContain("The pre-check passed; a job is queued");
    // A pinned α is promised nothing the job will not keep: it must beat α = 0 too.
    expect(renderReceivedComment({ theta1: { id: "a/b" }, queued: true, pinnedAlpha: 0.4 })).toContain("publish `<θ1 name>-ExPO` only if it beats α = 0 with confidence");
  });

  it("result without rows has no empty table", () => {
    const out = renderResultComment({ theta1: { id: "a/b" }, rows: [], chosenAlpha: null });
    expect(out).not.toContain("| α |");
  });

  it("result without gain says nothing was published", () => {
    const out = renderResultComment({ theta1: hostile, rows, chosenAlpha: null });
    expect(out).toContain("nothing was published");
    expectHarmless(out);
  });

  it("failed: code block, secrets scrubbed, logs link", () => {
    const out = renderFailedComment({
      theta1: { id: "a/b" },
      step: "publish <b>",
      message: "HTTP 401 for https://user:pw@huggingface.co (Authorization: Bearer hf_abcdefghijklmnopqrstuvwx)\n```\n# pwned\nghp_abcdefghijklmnopqrstuvwxyz",
      logsUrl: "https://github.com/o/r/actions/runs/9",
    });
    expect(out).not.toMatch(/hf_abcdefgh|ghp_abcdef|user:pw/);
    expect(out).toContain("````text\n");
    expect(out).toContain("[job logs](https://github.com/o/r/actions/runs/9)");
    expect(out).toContain("**publish &lt;b&gt;**");
  });
});

describe("search.json in the search's own schema", () => {
  const report = JSON.parse(readFileSync(new URL("./fixtures/search-report.json", import.meta.url), "utf8"));

  it("maps rows, decision, statistics and models", () => {
    const s = normalizeSearchReport(report, "search-report.json");
    expect(s.rows.map((r) => r.alpha)).toEqual([0, 0.1, 0.2, 0.3, 0.5, 1]); // α = −0.5 (sanity) left out
    expect(s.chosenAlpha).toBe(0.3);
    expect(s.strategy).toBe("grid");
    expect(s.confidence).toBe(0.95);
    expect(s.reason).toMatch(/^α=0\.3 beats α=0/);
    expect(s.aligned?.path).toBe("HuggingFaceH4/zephyr-7b-beta");
    const chosen = s.rows.find((r) => r.alpha === 0.3)!;
    const raw = report.alphas.find((a: { alpha: number }) => a.alpha === 0.3);
    expect(chosen).toMatchObject({ meanReward: raw.reward.mean, delta: raw.vsBaseline.gain.mean, deltaCi: [raw.vsBaseline.gain.lo, raw.vsBaseline.gain.hi], winRate: raw.vsBaseline.winRate, meanLength: raw.meanTokens, n: 64 });
    expect(s.rows[0]).toMatchObject({ alpha: 0, delta: 0 });
    expect(s.rows[0]!.deltaCi).toBeUndefined();
  });

  it("maps no-gain to chosenAlpha null", () => {
    const s = normalizeSearchReport({ ...report, decision: { kind: "no-gain", reason: "nothing beat α = 0" } });
    expect(s.chosenAlpha).toBeNull();
  });

  it("renders the card with the decision's reason, escaped", () => {
    const s = normalizeSearchReport({ ...report, decision: { ...report.decision, reason: "<b>why</b> @octocat" } });
    const card = renderModelCard(cardInput({ search: s }));
    expect(card).toContain("**Why α = 0.3** (the search's decision, on the prompts that chose it): &lt;b&gt;why&lt;/b&gt; @&#8203;octocat.");
  });

  it("gives each claim one interval and says which is which (the published gain, the decision's evidence, per-α differences)", () => {
    const s = normalizeSearchReport(report, "search-report.json");
    const card = renderModelCard(cardInput({ search: s }));
    const g = report.decision.reported.gain;
    const sign = (x: number) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(3);
    const published = `**${sign(g.mean)}** (95% CI ${sign(g.lo)} to ${sign(g.hi)})`;
    // The published gain: held out, bold, with its one 95 % CI, stated once.
    expect(card).toContain("**Published gain, measured apart from the choice.**");
    expect(card).toContain(`improves the mean reward over α = 0 by ${published}`);
    expect(card.split(sign(g.mean)).length - 1).toBe(1);
    // The decision's interval (99 %, adjusted) for the same Δ as the table's chosen row (95 %):
    // the card says why the two differ and that neither is the published gain.
    const chosen = s.rows.find((r) => r.alpha === 0.3)!;
    expect(card).toContain(`beats α=0 by ${chosen.delta.toFixed(3)} in mean reward on 64 prompts (99.0 % bootstrap interval`);
    expect(card).toContain(`| ${sign(chosen.delta)} [${sign(chosen.deltaCi![0])}, ${sign(chosen.deltaCi![1])}] |`);
    expect(card).toContain("This interval is wider than the 95% CI of the same Δ in the table below because it\nallows for having tried 5 values of α; it decides whether α is published and is\nnot the gain this card reports (that is the held-out gain above).");
    expect(card).toContain("Per-α differences on the prompts the search used: Δ is each α's mean reward minus α = 0's");
    expect(card).toContain("The chosen row is measured on the prompts that chose it, so it is biased upward;\nthe gain this card reports is the held-out one above.");
    // A difference is never called a reward or a score.
    expect(card).not.toMatch(/scored [−+]|reward [−+]\d/);
    // One α tried (a pinned α): nothing was adjusted, and nothing is said to be.
    const one = normalizeSearchReport({ ...report, statistics: { ...report.statistics, comparisons: 1, adjustedLevel: 0.95 } }, "one.json");
    expect(renderModelCard(cardInput({ search: one }))).not.toContain("wider than");
  });

  it("names the file and field of a bad value", () => {
    expect(() => normalizeSearchReport({ rows: [{ alpha: "x", meanReward: 1 }] }, "s.json")).toThrow(/s\.json: field rows\[0\]\.alpha is "x"/);
    expect(() => normalizeSearchReport({ rows: [{ alpha: 0, meanReward: 1 }], chosenAlpha: 0.5 }, "s.json")).toThrow(/chosenAlpha is 0\.5 but there is no row/);
    expect(() => normalizeSearchReport([], "s.json")).toThrow(/s\.json: field \(root\)/);
  });
});
