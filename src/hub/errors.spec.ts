import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { getModelInfo } from "./model-info.js";
import { readTextFile } from "./read-file.js";
import { getTokenUser } from "./who-am-i.js";
import { createDiscussion } from "./create-discussion.js";
import { HubAuthError, HubDiscussionsDisabledError, HubGatedError, HubNotFoundError, isDiscussionsDisabled } from "./errors.js";
import { rejectionOf, startFixture, type Fixture } from "./spec-helpers.js";

// Ambiguous answers are read as huggingface_hub's hf_raise_for_status (utils/_http.py) reads them.
let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx.hub.close();
});

describe("error mapping (huggingface_hub's hf_raise_for_status order)", () => {
  it("a 401 without X-Error-Code on a repo API or resolve URL is a missing (or private) repo", async () => {
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 401, body: JSON.stringify({ error: "Unauthorized" }) });
    expect(await rejectionOf(getModelInfo({ client: fx.client, repo: "org/aligned" }))).toBeInstanceOf(HubNotFoundError);
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", status: 401, body: JSON.stringify({ error: "Unauthorized" }) });
    expect(await rejectionOf(readTextFile({ client: fx.client, repo: "org/aligned", path: "config.json" }))).toBeInstanceOf(HubNotFoundError);
  });

  it("unless the Hub says the token itself is bad, or the URL is not a repo's", async () => {
    const bad = { "X-Error-Message": "Invalid credentials in Authorization header" };
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 401, headers: bad, body: JSON.stringify({ error: bad["X-Error-Message"] }) });
    expect(await rejectionOf(getModelInfo({ client: fx.client, repo: "org/aligned" }))).toBeInstanceOf(HubAuthError);
    fx.hub.admin.injectFault({ path: "/api/whoami-v2", status: 401, body: JSON.stringify({ error: "Unauthorized" }) });
    expect(await rejectionOf(getTokenUser({ client: fx.client }))).toBeInstanceOf(HubAuthError);
  });

  it("GatedRepo wins over the status; a disabled repo reads as not found", async () => {
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", status: 403, headers: { "X-Error-Code": "GatedRepo" }, body: JSON.stringify({ error: "Access restricted" }) });
    expect(await rejectionOf(readTextFile({ client: fx.client, repo: "org/aligned", path: "config.json" }))).toBeInstanceOf(HubGatedError);
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned", status: 403, headers: { "X-Error-Message": "Access to this resource is disabled." }, body: JSON.stringify({ error: "Access to this resource is disabled." }) });
    const err = await rejectionOf<Error>(getModelInfo({ client: fx.client, repo: "org/aligned" }));
    expect(err).toBeInstanceOf(HubNotFoundError);
    expect(err.message).toMatch(/disabled on the Hub/);
  });

  it("recognises discussions turned off by what the Hub answers, not by one fixed sentence", async () => {
    fx.hub.admin.setDiscussionsDisabled("org/aligned", true);
    expect(await rejectionOf(createDiscussion({ client: fx.client, repo: "org/aligned", title: "hello", description: "x" }))).toBeInstanceOf(HubDiscussionsDisabledError);
    fx.hub.admin.setDiscussionsDisabled("org/aligned", false);
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned/discussions", status: 403, body: JSON.stringify({ error: "Discussions have been disabled on this repository" }) });
    expect(await rejectionOf(createDiscussion({ client: fx.client, repo: "org/aligned", title: "hello", description: "x" }))).toBeInstanceOf(HubDiscussionsDisabledError);
    expect(isDiscussionsDisabled(403, "https://huggingface.co/api/models/a/b/discussions", "This feature is disabled")).toBe(true);
    expect(isDiscussionsDisabled(403, "https://huggingface.co/api/models/a/b/commit/main", "You don't have the rights")).toBe(false);
    expect(isDiscussionsDisabled(403, "https://huggingface.co/api/models/a/b/discussions", "You don't have the rights")).toBe(false);
  });
});
