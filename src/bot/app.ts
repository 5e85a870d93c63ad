/**
 * The Probot app: thin event handlers over `ExpoService`.
 *
 *   issues.opened          issue form (`.github/ISSUE_TEMPLATE/expo-request.yml`) → intake
 *   issue_comment.created  `/expo OWNER/NAME [parent OWNER/NAME] [alpha A]` → intake
 *   workflow_run           in_progress → running; completed → ingest results, keyed by (run id, attempt)
 *   POST <hubWebhookPath>  Hugging Face webhook (Probot `addHandler`) → intake
 *   poller                 models tagged `expo` → intake
 *
 * Everything outside GitHub is injected; GitHub defaults to the home repository through the
 * app's installation (Probot's octokit).
 */
import type { ApplicationFunction, Context, Probot } from "probot";
import { errorMessage } from "../util/errors.js";
import type { BotConfig } from "./config.js";
import { GitHubWorkflowDispatcher, type OctokitLike } from "./dispatch.js";
import { GitHubIssues, homeOctokit } from "./github.js";
import { hubWebhookHandler } from "./hub-webhook.js";
import type { Ledger } from "./ledger.js";
import { startPoller } from "./poller.js";
import { parseExpoCommand, parseIssueForm, requestIdInTitle } from "./request.js";
import { ExpoService, type IntakeOutcome } from "./service.js";
import type { BotHub, CommentRenderer, Dispatcher, HubDiscussions, IssueTracker, Logger, Precheck, RequestCandidate } from "./types.js";

export interface ExpoAppDeps {
  config: BotConfig;
  ledger: Ledger;
  hub: BotHub;
  precheck: Precheck;
  discussions?: HubDiscussions;
  renderer?: CommentRenderer;
  /** Default: issues of the home repository through the app's installation. */
  issues?: IssueTracker;
  /** Default: `GitHubWorkflowDispatcher` on the home repository. */
  dispatcher?: Dispatcher | ((octokit: () => Promise<OctokitLike>) => Dispatcher);
  /** Reconcile open requests when the app loads (default true). */
  reconcileOnStart?: boolean;
  now?: () => number;
}

export interface ExpoApp {
  appFn: ApplicationFunction;
  /** Set once `appFn` has run. */
  service: ExpoService | null;
  /** Settles when the start-up reconciliation is done (resolved at once when disabled). */
  reconciled: Promise<void>;
  /** Stops the poller. */
  stop(): void;
}

function sameRepo(context: { payload: { repository?: { full_name?: string } } }, homeRepo: string): boolean {
  return context.payload.repository?.full_name?.toLowerCase() === homeRepo.toLowerCase();
}

export function createExpoApp(deps: ExpoAppDeps): ExpoApp {
  let stopPoller = () => {};
  let resolveReconciled!: () => void;
  const reconciled = new Promise<void>((r) => (resolveReconciled = r));
  const app: ExpoApp = {
    service: null,
    reconciled,
    stop: () => stopPoller(),
    appFn: async (probot: Probot, options) => {
      const config = deps.config;
      const log: Logger = probot.log.child({ name: "expo-bot" });
      const octokit = homeOctokit(probot, config.homeRepo, config.installationId);
      const issues = deps.issues ?? new GitHubIssues(octokit, config.homeRepo);
      const dispatcher =
        typeof deps.dispatcher === "function"
          ? deps.dispatcher(octokit)
          : (deps.dispatcher ?? new GitHubWorkflowDispatcher({ octokit, homeRepo: config.homeRepo, workflowFile: config.workflowFile, ref: config.workflowRef }));
      const service = new ExpoService({ ...deps, issues, dispatcher, log });
      app.service = service;

      const answer = async (issueNumber: number, outcome: IntakeOutcome) => {
        if (outcome.status === "rejected") await issues.comment(issueNumber, `**ExPO request not taken.** ${outcome.reason}`);
        else if (outcome.status === "duplicate" && outcome.request.trackingIssue !== issueNumber) {
          const where = outcome.request.trackingIssue ? `#${outcome.request.trackingIssue}` : `request \`${outcome.request.id}\``;
          await issues.comment(issueNumber, `**Already requested:** the same pair at the same revisions and settings is tracked in ${where} (state: ${outcome.request.state}).`);
        }
      };

      const githubIntake = async (context: Context, login: string, issueNumber: number, parsed: ReturnType<typeof parseExpoCommand>, source: RequestCandidate["source"]) => {
        if (!parsed) return;
        if ("error" in parsed) {
          await issues.comment(issueNumber, `**ExPO request not understood:** ${parsed.error}`);
          return;
        }
        const auth = await service.authorize(login);
        if (!auth.ok) {
          await issues.comment(issueNumber, `**ExPO request not taken.** ${auth.reason}`);
          return;
        }
        const outcome = await service.intake({ source, ...parsed, requester: `github:${login.toLowerCase()}`, issueNumber, deliveryId: `github:${context.id}` });
        await answer(issueNumber, outcome);
      };

      probot.on("issues.opened", async (context) => {
        if (!sameRepo(context, config.homeRepo) || context.payload.sender.type === "Bot") return;
        const issue = context.payload.issue;
        if (!issue.user) return;
        await githubIntake(context as unknown as Context, issue.user.login, issue.number, parseIssueForm(issue.body), "github-issue");
      });

      probot.on("issue_comment.created", async (context) => {
        if (!sameRepo(context, config.homeRepo) || context.payload.sender.type === "Bot") return;
        const { comment, issue } = context.payload;
        if (!comment.user) return;
        await githubIntake(context as unknown as Context, comment.user.login, issue.number, parseExpoCommand(comment.body), "github-comment");
      });

      probot.on("workflow_run", async (context) => {
        if (!sameRepo(context, config.homeRepo)) return;
        const run = context.payload.workflow_run as { id: number; run_attempt?: number; path?: string; display_title?: string; name?: string | null; html_url?: string; conclusion?: string | null };
        const path = run.path ?? context.payload.workflow?.path ?? "";
        if (!path.endsWith(`/${config.workflowFile}`)) return;
        const ref = { runId: run.id, attempt: run.run_attempt ?? 1, requestId: requestIdInTitle(run.display_title ?? run.name ?? null), url: run.html_url };
        if (context.payload.action === "completed") await service.onRunCompleted({ ...ref, conclusion: run.conclusion ?? null });
        else if (context.payload.action === "in_progress") await service.onRunStarted(ref);
      });

      const intake = (c: RequestCandidate) => service.intake(c);
      if (config.hubWebhookSecret) {
        options.addHandler(
          hubWebhookHandler({
            path: config.hubWebhookPath,
            secret: config.hubWebhookSecret,
            onCandidate: intake,
            onError: (err) => log.error({ err: errorMessage(err) }, "Hub webhook processing failed"),
            log,
          }),
        );
      } else {
        log.warn("HF_WEBHOOK_SECRET is not set: the Hub webhook route is off (the tag poller still runs)");
      }
      const stopPolling = startPoller({ hub: deps.hub, ledger: deps.ledger, intake, intervalMs: config.pollIntervalMs, log });
      // Periodic reconciliation: retries requests whose precheck or dispatch hit a transient
      // error, and catches workflow_run events GitHub never delivered.
      let reconciling = false;
      const reconcileTimer =
        config.reconcileIntervalMs > 0
          ? setInterval(() => {
              if (reconciling) return;
              reconciling = true;
              service
                .reconcile()
                .catch((err) => log.error({ err: errorMessage(err) }, "reconciliation failed"))
                .finally(() => (reconciling = false));
            }, config.reconcileIntervalMs)
          : null;
      reconcileTimer?.unref();
      stopPoller = () => {
        stopPolling();
        if (reconcileTimer) clearInterval(reconcileTimer);
      };

      if (deps.reconcileOnStart === false) resolveReconciled();
      else
        void service
          .reconcile()
          .catch((err) => log.error({ err: errorMessage(err) }, "start-up reconciliation failed"))
          .finally(resolveReconciled);
    },
  };
  return app;
}
