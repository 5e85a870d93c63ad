/** Small test doubles for the bot's injected services. */
import { RESULTS_SCHEMA_V1, type ExpoResults } from "../../src/job/results.js";
import type { BotHub, HubDiscussions, HubModelInfo, IssueTracker, PrecheckVerdict, RequestRecord } from "../../src/bot/types.js";

export const SHA1 = "a".repeat(40);
export const SHA0 = "b".repeat(40);

export class FakeHub implements BotHub {
  models = new Map<string, HubModelInfo>();
  params = new Map<string, number>();
  calls = 0;

  add(id: string, sha: string, card: Record<string, unknown> | null, tags: string[] = [], params = 1e9): this {
    this.models.set(id, { id, sha, tags, cardData: card });
    this.params.set(id, params);
    return this;
  }

  async modelInfo(repo: string, revision?: string): Promise<HubModelInfo> {
    this.calls++;
    await new Promise((r) => setImmediate(r));
    const m = this.models.get(repo);
    if (!m) throw Object.assign(new Error(`model ${repo} not found`), { status: 404 });
    return revision ? { ...m, sha: revision } : m;
  }

  async *listModelsWithTag(tag: string): AsyncIterable<{ id: string; sha?: string }> {
    for (const m of this.models.values()) if (m.tags.includes(tag) || (m.cardData?.tags as string[] | undefined)?.includes(tag)) yield { id: m.id, sha: m.sha };
  }

  async parameterCount(repo: string): Promise<number | null> {
    return this.params.get(repo) ?? null;
  }

  /** Repos that are PEFT adapters (no full weights: parameterCount is null). */
  adapters = new Set<string>();
  async isAdapter(repo: string): Promise<boolean> {
    return this.adapters.has(repo);
  }
}

/** A tagged θ1 whose card names θ0 as base_model, and θ0. */
export function pairHub(): FakeHub {
  return new FakeHub().add("alice/chat-dpo", SHA1, { base_model: "alice/chat-sft", tags: ["expo"] }, ["expo"]).add("alice/chat-sft", SHA0, {});
}

export class FakeIssues implements IssueTracker {
  issues: Array<{ number: number; title: string; body: string; labels: string[]; state: string }> = [];
  comments: Array<{ issue: number; body: string }> = [];
  permissions = new Map<string, string>();

  async createIssue(title: string, body: string, labels: string[]): Promise<number> {
    const number = 100 + this.issues.length;
    this.issues.push({ number, title, body, labels, state: "open" });
    return number;
  }
  async comment(issue: number, body: string): Promise<void> {
    this.comments.push({ issue, body });
  }
  async close(issue: number): Promise<void> {
    const i = this.issues.find((x) => x.number === issue);
    if (i) i.state = "closed";
  }
  async permission(login: string): Promise<string> {
    return this.permissions.get(login) ?? "none";
  }
  async findIssue(requestId: string): Promise<number | null> {
    return this.issues.find((i) => i.title.endsWith(`(${requestId})`))?.number ?? null;
  }
  async hasComment(issue: number, marker: string): Promise<boolean> {
    return this.comments.some((c) => c.issue === issue && c.body.includes(marker));
  }
}

export class FakeDiscussions implements HubDiscussions {
  posts: Array<{ repo: string; body: string }> = [];
  async post(repo: string, body: string): Promise<void> {
    this.posts.push({ repo, body });
  }
}

export function passingPrecheck(verdict: PrecheckVerdict = { verdict: "pass", reasons: [] }) {
  const calls: unknown[] = [];
  const fn = async (pair: unknown) => {
    calls.push(pair);
    return verdict;
  };
  return Object.assign(fn, { calls });
}

export function resultsFor(r: Pick<RequestRecord, "id" | "theta1" | "theta1Sha" | "theta0" | "theta0Sha">, outcome: "published" | "no-gain" = "published"): ExpoResults {
  return {
    schema: RESULTS_SCHEMA_V1,
    requestId: r.id,
    theta1: { repo: r.theta1, sha: r.theta1Sha },
    theta0: { repo: r.theta0!, sha: r.theta0Sha! },
    pinnedAlpha: null,
    verdict: { verdict: "pass", reasons: [] },
    alphas: [
      { alpha: 0, reward: 1.0, delta: 0, ci: [0, 0], winRate: 0.5, meanLength: 120, n: 64 },
      { alpha: 0.3, reward: 1.4, delta: 0.4, ci: [0.2, 0.6], winRate: 0.66, meanLength: 131, n: 64 },
    ],
    chosenAlpha: outcome === "published" ? 0.3 : null,
    outcome,
    published: outcome === "published" ? { repo: "expo-bot/chat-dpo-ExPO", commit: "c".repeat(40), url: "https://huggingface.co/expo-bot/chat-dpo-ExPO" } : null,
    plot: null,
    timings: { download: 1, search: 2 },
    bytes: { downloaded: 10, uploaded: 5 },
    error: null,
  };
}
