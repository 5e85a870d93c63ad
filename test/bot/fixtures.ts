/**
 * Payload fixtures.
 *
 * Hub: the shape documented at https://huggingface.co/docs/hub/webhooks ("Webhook Payloads",
 * version 3): `event {action, scope}`, `repo {type, name, id, private, url, headSha, tags,
 * owner}`, `updatedRefs` on content changes, `webhook {id, version}`.
 *
 * GitHub: real payloads from @octokit/webhooks-examples, with the repository renamed to the
 * home repository and the fields under test changed.
 */
import examples from "@octokit/webhooks-examples";
import type { HubWebhookPayload } from "../../src/bot/hub-webhook.js";

export function hubPayload(repo: string, headSha: string, tags: string[] = ["expo"]): HubWebhookPayload & Record<string, unknown> {
  return {
    event: { action: "update", scope: "repo.content" },
    repo: {
      type: "model",
      name: repo,
      id: "6366c000a2abcdf2fd69a080",
      private: false,
      url: { web: `https://huggingface.co/${repo}`, api: `https://huggingface.co/api/models/${repo}` },
      headSha,
      tags,
      owner: { id: "61d2000c3c2083e1c08af22d" },
    } as HubWebhookPayload["repo"],
    updatedRefs: [{ ref: "refs/heads/main", oldSha: "ce9a4674fa833a68d5a73ec355f0ea95eedd60b7", newSha: headSha }],
    webhook: { id: "6390e855e30d9209411de93b", version: 3 },
  };
}

function example(name: string, pick: (e: any) => boolean): any {
  const def = (examples as unknown as any[]).find((d) => d.name === name);
  const found = def.examples.find(pick);
  if (!found) throw new Error(`no ${name} example`);
  return structuredClone(found);
}

function rehome(p: any, homeRepo: string): any {
  const [owner, name] = homeRepo.split("/");
  p.repository.full_name = homeRepo;
  p.repository.name = name;
  p.repository.owner.login = owner;
  p.installation = { id: 2, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMg==" };
  return p;
}

export function issueCommentPayload(homeRepo: string, body: string, login = "Codertocat"): any {
  const p = rehome(
    example("issue_comment", (e) => e.action === "created" && e.installation),
    homeRepo,
  );
  p.comment.body = body;
  p.comment.user.login = login;
  p.sender.login = login;
  p.sender.type = "User";
  return p;
}

export function issueOpenedPayload(homeRepo: string, body: string, login = "Codertocat"): any {
  const p = rehome(
    example("issues", (e) => e.action === "opened" && typeof e.issue.body === "string"),
    homeRepo,
  );
  p.issue.body = body;
  p.issue.user.login = login;
  p.sender.login = login;
  p.sender.type = "User";
  return p;
}

export function workflowRunPayload(homeRepo: string, run: { id: number; attempt: number; conclusion: string | null; title: string; action?: string }): any {
  const p = rehome(
    example("workflow_run", (e) => e.action === "completed" && e.workflow_run.conclusion === "success"),
    homeRepo,
  );
  p.action = run.action ?? "completed";
  Object.assign(p.workflow_run, {
    id: run.id,
    run_attempt: run.attempt,
    conclusion: run.conclusion,
    status: p.action === "completed" ? "completed" : "in_progress",
    display_title: run.title,
    path: ".github/workflows/expo-job.yml",
    event: "workflow_dispatch",
    html_url: `https://github.com/${homeRepo}/actions/runs/${run.id}`,
  });
  if (p.workflow) p.workflow.path = ".github/workflows/expo-job.yml";
  return p;
}
