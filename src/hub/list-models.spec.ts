import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listModelsByTag } from "./list-models.js";
import { startFixture, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture({ modelsPageSize: 2 });
});
afterEach(async () => {
  await fx.hub.close();
});

describe("listModelsByTag", () => {
  it("finds models by card tag or admin tag, by author, across pages", async () => {
    fx.hub.admin.createRepo("alice/one", { files: { "README.md": "---\ntags: [expo]\n---\n" } });
    fx.hub.admin.createRepo("alice/two", { tags: ["expo", "expo-parent:alice/base"] });
    fx.hub.admin.createRepo("bob/three", { files: { "README.md": "---\ntags: [expo]\n---\n" } });
    fx.hub.admin.createRepo("bob/untagged");
    fx.hub.admin.createRepo("carol/secret", { private: true, tags: ["expo"] });
    const all = await listModelsByTag({ client: fx.anon, tags: ["expo"] });
    expect(all.map((m) => m.repo)).toEqual(["alice/one", "alice/two", "bob/three", "org/aligned"]);
    expect(all[0]!.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(all.find((m) => m.repo === "alice/two")!.tags).toContain("expo-parent:alice/base");
    expect((await listModelsByTag({ client: fx.anon, tags: ["expo"], author: "bob" })).map((m) => m.repo)).toEqual(["bob/three"]);
    expect((await listModelsByTag({ client: fx.client, tags: ["expo"] })).map((m) => m.repo)).toContain("carol/secret");
    expect(await listModelsByTag({ client: fx.anon, tags: ["expo"], limit: 3 })).toHaveLength(3);
    expect(fx.hub.admin.requests.filter((r) => r.path.startsWith("/api/models?")).length).toBeGreaterThan(3);
  });
});
