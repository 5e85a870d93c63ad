/**
 * The home repository through Probot's octokit: an installation-authenticated client (found
 * from the app's JWT, cached by Probot for the token's life) and the issue tracker on it.
 */
import type { Probot } from "probot";
import type { OctokitLike } from "./dispatch.js";
import type { IssueTracker } from "./types.js";

/** Returns an installation Octokit for `homeRepo`, looking the installation up once. */
export function homeOctokit(app: Probot, homeRepo: string, installationId?: number): () => Promise<OctokitLike> {
  const [owner, repo] = homeRepo.split("/");
  let id: number | undefined = installationId;
  return async () => {
    if (id === undefined) {
      const appOctokit = await app.auth();
      const { data } = await appOctokit.request("GET /repos/{owner}/{repo}/installation", { owner, repo });
      id = data.id;
    }
    return (await app.auth(id)) as unknown as OctokitLike;
  };
}

export class GitHubIssues implements IssueTracker {
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly octokit: () => Promise<OctokitLike>,
    homeRepo: string,
  ) {
    [this.owner, this.repo] = homeRepo.split("/");
  }

  async createIssue(title: string, body: string, labels: string[]): Promise<number> {
    const gh = await this.octokit();
    const { data } = await gh.request("POST /repos/{owner}/{repo}/issues", { owner: this.owner, repo: this.repo, title, body, labels });
    return data.number as number;
  }

  async comment(issue: number, body: string): Promise<void> {
    const gh = await this.octokit();
    await gh.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { owner: this.owner, repo: this.repo, issue_number: issue, body });
  }

  async close(issue: number, reason: "completed" | "not_planned"): Promise<void> {
    const gh = await this.octokit();
    await gh.request("PATCH /repos/{owner}/{repo}/issues/{issue_number}", { owner: this.owner, repo: this.repo, issue_number: issue, state: "closed", state_reason: reason });
  }

  async findIssue(requestId: string): Promise<number | null> {
    const gh = await this.octokit();
    const { data } = await gh.request("GET /repos/{owner}/{repo}/issues", { owner: this.owner, repo: this.repo, labels: "expo-tracking", state: "all", sort: "created", direction: "desc", per_page: 100 });
    const found = (data as Array<{ number: number; title: string; pull_request?: unknown }>).find((i) => !i.pull_request && i.title.endsWith(`(${requestId})`));
    return found ? found.number : null;
  }

  async hasComment(issue: number, marker: string): Promise<boolean> {
    const gh = await this.octokit();
    // Newest last; a tracking issue carries a handful of bot comments, so the last 100 suffice.
    const { data } = await gh.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", { owner: this.owner, repo: this.repo, issue_number: issue, per_page: 100 });
    return (data as Array<{ body?: string }>).some((c) => (c.body ?? "").includes(marker));
  }

  async permission(login: string): Promise<string> {
    const gh = await this.octokit();
    const { data } = await gh.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", { owner: this.owner, repo: this.repo, username: login });
    // `permission` folds maintain into write and triage into read; `role_name` keeps them.
    const p = data.permission as string | undefined;
    if (p === "admin" || p === "write") return p;
    return (data.role_name as string | undefined) ?? p ?? "none";
  }
}
