import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDiscussion } from "./create-discussion.js";
import { commentDiscussion, getDiscussion } from "./comment-discussion.js";
import { listDiscussions } from "./list-discussions.js";
import { findDiscussion, postToThread } from "./find-discussion.js";
import { createHubClient } from "./client.js";
import { HubAuthError, HubDiscussionsDisabledError, HubNotFoundError } from "./errors.js";
import { OTHER_TOKEN, startFixture, type Fixture } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx.hub.close();
});

const TITLE = "ExPO Bot: extrapolation results";

describe("discussions (REST endpoints)", () => {
  it("creates a discussion, comments on it and reads it back", async () => {
    const d = await createDiscussion({ client: fx.client, repo: "org/aligned", title: TITLE, description: "Starting." });
    expect(d).toMatchObject({ num: 1, title: TITLE, status: "open", author: "expo-bot", isPullRequest: false, url: `${fx.hub.url}/org/aligned/discussions/1` });
    const c = await commentDiscussion({ client: fx.client, repo: "org/aligned", num: d.num, comment: "| α | Δ |\n|---|---|\n| 0.3 | +1.2 |" });
    expect(c.author).toBe("expo-bot");
    const full = await getDiscussion({ client: fx.client, repo: "org/aligned", num: 1 });
    expect(full.comments.map((x) => x.content)).toEqual(["Starting.", "| α | Δ |\n|---|---|\n| 0.3 | +1.2 |"]);
  });

  it("finds the bot's own thread by author and title, and posts to it instead of opening another", async () => {
    const other = createHubClient({ token: OTHER_TOKEN, hubUrl: fx.hub.url });
    await createDiscussion({ client: other, repo: "org/aligned", title: TITLE, description: "impostor" });
    expect(await findDiscussion({ client: fx.client, repo: "org/aligned", author: "expo-bot", title: TITLE })).toBeNull();
    const first = await postToThread({ client: fx.client, repo: "org/aligned", author: "expo-bot", title: TITLE, comment: "run 1" });
    expect(first.created).toBe(true);
    const second = await postToThread({ client: fx.client, repo: "org/aligned", author: "expo-bot", title: TITLE, comment: "run 2" });
    expect(second).toMatchObject({ created: false, discussion: { num: first.discussion.num } });
    expect((await listDiscussions({ client: fx.client, repo: "org/aligned" })).map((d) => [d.num, d.author])).toEqual([
      [2, "expo-bot"],
      [1, "someone"],
    ]);
    expect((await getDiscussion({ client: fx.client, repo: "org/aligned", num: 2 })).comments.map((c) => c.content)).toEqual(["run 1", "run 2"]);
  });

  it("pages through many discussions", async () => {
    for (let i = 0; i < 55; i++) fx.hub.admin.repo("org/aligned")!.discussions.push({ num: i + 1, title: `t${i}`, status: "open", author: "x", isPullRequest: false, createdAt: new Date().toISOString(), events: [] });
    expect(await listDiscussions({ client: fx.client, repo: "org/aligned" })).toHaveLength(55);
  });

  it("disabled discussions give HubDiscussionsDisabledError", async () => {
    fx.hub.admin.setDiscussionsDisabled("org/aligned", true);
    await expect(createDiscussion({ client: fx.client, repo: "org/aligned", title: TITLE, description: "x" })).rejects.toThrow(HubDiscussionsDisabledError);
    await expect(listDiscussions({ client: fx.client, repo: "org/aligned" })).rejects.toThrow(/org\/aligned has discussions disabled/);
  });

  it("needs a token to post; a missing repo or discussion is HubNotFoundError", async () => {
    await expect(createDiscussion({ client: fx.anon, repo: "org/aligned", title: TITLE, description: "x" })).rejects.toThrow(HubAuthError);
    await expect(listDiscussions({ client: fx.client, repo: "org/nope" })).rejects.toThrow(HubNotFoundError);
    await expect(commentDiscussion({ client: fx.client, repo: "org/aligned", num: 9, comment: "x" })).rejects.toThrow(HubNotFoundError);
  });

  it("a comment post is not retried on 5xx, but is on 429", async () => {
    const d = await createDiscussion({ client: fx.client, repo: "org/aligned", title: TITLE, description: "x" });
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned/discussions/1/comment", status: 429, headers: { "Retry-After": "2" } });
    await commentDiscussion({ client: fx.client, repo: "org/aligned", num: d.num, comment: "after 429" });
    fx.hub.admin.injectFault({ path: "/api/models/org/aligned/discussions/1/comment", status: 502 });
    await expect(commentDiscussion({ client: fx.client, repo: "org/aligned", num: d.num, comment: "lost" })).rejects.toThrow(/502/);
    expect((await getDiscussion({ client: fx.client, repo: "org/aligned", num: 1 })).comments.map((c) => c.content)).toEqual(["x", "after 429"]);
    expect(fx.sleeps).toEqual([2000]);
  });
});
