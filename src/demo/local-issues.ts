/**
 * The demo's stand-in for the home repository's GitHub issues: the demo runs with no account
 * and no network, so tracking issues and their comments are kept in memory and shown in the
 * demo's output, clearly marked as simulated. Everything on the Hub side is real (local Hub).
 */
import type { IssueTracker } from "../bot/types.js";

export interface LocalIssue {
  number: number;
  title: string;
  body: string;
  labels: string[];
  state: "open" | "closed";
  comments: string[];
}

export class LocalIssueTracker implements IssueTracker {
  readonly issues: LocalIssue[] = [];

  async createIssue(title: string, body: string, labels: string[]): Promise<number> {
    const number = this.issues.length + 1;
    this.issues.push({ number, title, body, labels, state: "open", comments: [] });
    return number;
  }

  async comment(issue: number, body: string): Promise<void> {
    this.find(issue).comments.push(body);
  }

  async close(issue: number): Promise<void> {
    this.find(issue).state = "closed";
  }

  async findIssue(requestId: string): Promise<number | null> {
    return this.issues.find((i) => i.title.endsWith(`(${requestId})`))?.number ?? null;
  }

  async hasComment(issue: number, marker: string): Promise<boolean> {
    return this.find(issue).comments.some((c) => c.includes(marker));
  }

  /** The demo's requests come from the Hub, not from GitHub users. */
  async permission(): Promise<string> {
    return "none";
  }

  private find(number: number): LocalIssue {
    const issue = this.issues.find((i) => i.number === number);
    if (!issue) throw new Error(`no tracking issue #${number}`);
    return issue;
  }
}
