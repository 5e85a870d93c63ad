import { describe, expect, it } from "vitest";
import { checkAccess, checkLicence } from "./licence.js";
import { applyNamePrefix, isRepoId, MAX_REPO_NAME_LENGTH, outputNames, sourcesHash } from "./naming.js";

describe("checkLicence", () => {
  it("allows permissive licences without conditions", () => {
    const v = checkLicence({ license: "apache-2.0" }, "θ1 a/b");
    expect(v).toMatchObject({ ok: true, reasons: [], warnings: [], notices: [] });
  });
  it.each(["cc-by-nd-4.0", "cc-by-nc-nd-4.0", "cc-by-nd-3.0"])("refuses %s", (license) => {
    const v = checkLicence({ license }, "θ1 a/b");
    expect(v.ok).toBe(false);
    expect(v.reasons[0]).toMatch(new RegExp(`θ1 a/b is licensed ${license}, which does not allow derivative works`));
  });
  it("refuses 'other' licences whose name forbids derivatives", () => {
    expect(checkLicence({ license: "other", license_name: "acme-nd-1.0" }, "θ1").ok).toBe(false);
    expect(checkLicence({ license: "other", license_name: "research-no-derivatives" }, "θ1").ok).toBe(false);
  });
  it("warns on unknown 'other' and missing licences", () => {
    expect(checkLicence({ license: "other", license_name: "acme" }, "θ1").warnings[0]).toMatch(/does not know/);
    expect(checkLicence({}, "θ1").warnings[0]).toMatch(/declares no licence/);
  });
  it("knows the Llama naming rules and notices", () => {
    expect(checkLicence({ license: "llama3" }, "θ1").namePrefix).toBe("Llama-3");
    for (const v of ["llama3.1", "llama3.2", "llama3.3", "llama4"]) {
      const verdict = checkLicence({ license: v }, "θ1");
      expect(verdict.namePrefix).toBe("Llama");
      expect(verdict.notices[0]).toBe("Built with Llama");
    }
    expect(checkLicence({ license: "llama2" }, "θ1").namePrefix).toBeUndefined();
    expect(checkLicence({ license: "gemma" }, "θ1").notices[0]).toMatch(/Gemma Terms of Use/);
    expect(checkLicence({ license: "other", license_name: "tongyi-qianwen" }, "θ1").notices).toEqual(["Built with Qwen."]);
  });
});

describe("checkAccess", () => {
  it("refuses gated and private sources unless allowed", () => {
    const sources = [
      { role: "θ1", info: { id: "meta-llama/Llama-3.1-8B-Instruct", gated: "manual" as const } },
      { role: "θ0", info: { id: "me/private-sft", private: true } },
    ];
    const reasons = checkAccess(sources);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/θ1 meta-llama\/Llama-3.1-8B-Instruct is gated .*allowGated/);
    expect(reasons[1]).toMatch(/θ0 me\/private-sft is private.*allowPrivate/);
    expect(checkAccess(sources, { allowGated: true, allowPrivate: true })).toEqual([]);
    expect(checkAccess([{ role: "θ1", info: { id: "a/b", gated: false, private: false } }])).toEqual([]);
  });
});

describe("naming", () => {
  const t1 = { id: "HuggingFaceH4/zephyr-7b-beta" };
  const t0 = { id: "HuggingFaceH4/mistral-7b-sft-beta" };
  it("is <namespace>/<θ1 name>-ExPO with a hashed alternate", () => {
    const names = outputNames("expo-bot", t1, t0);
    expect(names.primary).toBe("expo-bot/zephyr-7b-beta-ExPO");
    expect(names.alternate).toBe(`expo-bot/zephyr-7b-beta-ExPO-${sourcesHash(t1, t0)}`);
    expect(sourcesHash(t1, t0)).toMatch(/^[0-9a-f]{8}$/);
    expect(sourcesHash(t1, t0)).not.toBe(sourcesHash(t1, { id: "other/sft" }));
  });
  it("applies licence prefixes", () => {
    expect(applyNamePrefix("Llama-3.1-Tulu-3-8B-DPO", "Llama")).toBe("Llama-3.1-Tulu-3-8B-DPO");
    expect(applyNamePrefix("Meta-Llama-3-8B-Instruct", "Llama-3")).toBe("Llama-3-8B-Instruct");
    expect(applyNamePrefix("llama3-8b-dpo", "Llama-3")).toBe("llama3-8b-dpo");
    expect(applyNamePrefix("tulu-8b-dpo", "Llama")).toBe("Llama-tulu-8b-dpo");
    expect(outputNames("bot", { id: "x/tulu-8b-dpo" }, { id: "x/tulu-8b-sft" }, { namePrefix: "Llama" }).primary).toBe("bot/Llama-tulu-8b-dpo-ExPO");
  });
  it("honours --repo, still applying the prefix", () => {
    expect(outputNames("bot", t1, t0, { requested: "me/custom-ExPO" }).primary).toBe("me/custom-ExPO");
    // --repo is kept exactly as given (no "-ExPO" appended) or refused with the licence's reason.
    expect(outputNames("bot", t1, t0, { requested: "tester/x" }).primary).toBe("tester/x");
    expect(outputNames("bot", t1, t0, { requested: "me/Llama-custom", namePrefix: "Llama" }).primary).toBe("me/Llama-custom");
    expect(() => outputNames("bot", t1, t0, { requested: "me/custom-ExPO", namePrefix: "Llama" })).toThrow(/must begin with|to begin with "Llama"; pass e\.g\. --repo me\/Llama-custom-ExPO/);
    expect(() => outputNames("bot", t1, t0, { requested: "me/<x>" })).toThrow(/--repo/);
  });
  it("stays within the Hub's name length, deterministically", () => {
    const long = { id: `a/${"x".repeat(120)}` };
    const names = outputNames("bot", long, t0);
    expect(names.primary.split("/")[1]!.length).toBeLessThanOrEqual(MAX_REPO_NAME_LENGTH);
    expect(names.primary).toMatch(/-ExPO-[0-9a-f]{8}$/);
    expect(outputNames("bot", long, t0)).toEqual(names);
    expect(isRepoId(names.primary)).toBe(true);
  });
  it("validates repo ids", () => {
    expect(isRepoId("a/b")).toBe(true);
    for (const bad of ["a", "a/b/c", "a/-b", "a/b--c", "a/b..c", "a/<b>", "a/b\nc", "a/ b"]) expect(isRepoId(bad)).toBe(false);
  });
});

describe("parseProvenance", () => {
  it("reads extrapolate()'s expo_provenance.json shape", async () => {
    const { parseProvenance } = await import("./provenance.js");
    const p = parseProvenance({ sources: { aligned: { path: "/tmp/x", repo: "a/dpo", revision: "abc" }, sft: { path: "/tmp/y", repo: "a/sft" } }, alpha: 0.4 }, "f.json");
    expect(p).toEqual({ file: "f.json", theta1: { id: "a/dpo", revision: "abc" }, theta0: { id: "a/sft", revision: "main" }, alpha: 0.4 });
  });
  it("does not take a local folder path for a Hub id", async () => {
    const { parseProvenance } = await import("./provenance.js");
    const p = parseProvenance({ sources: { aligned: { path: "src/publish" }, sft: { path: "no-such/dir-here" } } }, "f.json");
    expect(p.theta1).toBeUndefined();
    expect(p.theta0).toEqual({ id: "no-such/dir-here", revision: "main" });
  });
});
