import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readJsonFile, readRequiredTextFile, readTextFile } from "./read-file.js";
import { HubError, HubGatedError, HubNotFoundError } from "./errors.js";
import { createHubClient } from "./client.js";
import { OTHER_TOKEN, startFixture, type Fixture } from "./spec-helpers.js";
import { rejectionOf } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx.hub.close();
});

describe("reading small files", () => {
  it("reads text and JSON; a missing file is null (or HubNotFoundError when required)", async () => {
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "README.md" })).toContain("# Aligned model");
    expect(await readJsonFile<{ model_type: string }>({ client: fx.client, repo: "org/aligned", path: "config.json" })).toMatchObject({ model_type: "llama" });
    expect(await readTextFile({ client: fx.client, repo: "org/aligned", path: "tokenizer.json" })).toBeNull();
    await expect(readRequiredTextFile({ client: fx.client, repo: "org/aligned", path: "tokenizer.json" })).rejects.toThrow(HubNotFoundError);
  });

  it("names the file when its JSON is invalid, and refuses files over the size limit", async () => {
    fx.hub.admin.commit("org/aligned", { "config.json": "{ not json" });
    await expect(readJsonFile({ client: fx.client, repo: "org/aligned", path: "config.json" })).rejects.toThrow(/"config.json" is not valid JSON/);
    await expect(readTextFile({ client: fx.client, repo: "org/aligned", path: "README.md", maxBytes: 10 })).rejects.toThrow(HubError);
  });

  it("a 404 repo is HubNotFoundError", async () => {
    await expect(readTextFile({ client: fx.client, repo: "org/nothing", path: "config.json" })).rejects.toThrow(HubNotFoundError);
  });

  it("a gated repo gives HubGatedError without a token and with an unapproved token, and reads once approved", async () => {
    fx.hub.admin.setGated("org/aligned", "manual", []);
    const other = createHubClient({ token: OTHER_TOKEN, hubUrl: fx.hub.url, sleep: async () => {} });
    const noToken = await rejectionOf<HubGatedError>(readTextFile({ client: fx.anon, repo: "org/aligned", path: "config.json" }));
    expect(noToken).toBeInstanceOf(HubGatedError);
    expect(noToken.status).toBe(401);
    expect(noToken.message).toMatch(/org\/aligned file "config.json" is gated/);
    const unapproved = await rejectionOf<HubGatedError>(readTextFile({ client: other, repo: "org/aligned", path: "config.json" }));
    expect(unapproved).toBeInstanceOf(HubGatedError);
    expect(unapproved.status).toBe(403);
    expect(unapproved.message).toMatch(/not in the authorized list/);
    fx.hub.admin.setGated("org/aligned", "manual", ["someone"]);
    expect(await readTextFile({ client: other, repo: "org/aligned", path: "config.json" })).toContain("llama");
  });
});
