/**
 * The bot's configuration, from the environment (see docs/deploy.md for every variable).
 * Secrets are checked here and never logged: `describeConfig` prints only whether they are set.
 */
import { UserError } from "../util/errors.js";
import { isRepoId } from "./request.js";

export interface BotConfig {
  /** The home repository (`owner/name`): tracking issues, the job workflow, `/expo` commands. */
  homeRepo: string;
  /** Installation id of the app on the home repository; looked up when absent. */
  installationId?: number;
  /** The job workflow file name in `.github/workflows/`. */
  workflowFile: string;
  /** The git ref the workflow is dispatched on. */
  workflowRef: string;
  /** Path of the SQLite ledger. */
  ledgerPath: string;
  /** Secret the Hub sends in `X-Webhook-Secret`; the Hub route is off when unset. */
  hubWebhookSecret?: string;
  /** Path of the Hub webhook route. */
  hubWebhookPath: string;
  /** Poll interval for models tagged `expo` (ms); 0 disables the poller. */
  pollIntervalMs: number;
  /** Interval of the periodic reconciliation of open requests (ms); 0 disables it. */
  reconcileIntervalMs: number;
  /** The bot's Hub namespace (its outputs are never requests). */
  botNamespace?: string;
  /** GitHub logins allowed to request besides users with write access to the home repo. */
  allowedUsers: string[];
  /** Requests per requester per 24 h (refusals do not count). */
  quotaPerRequester: number;
  /** Requests in total per 24 h. */
  quotaGlobal: number;
  /** Largest θ1 accepted, in parameters (from the safetensors headers). */
  maxParams: number;
  /** Whether GitHub-originated requests also comment on θ1's Hub discussion (Hub requests always do). */
  hubCommentsForGitHubRequests: boolean;
  /** Automatic retries of a run the infrastructure failed. */
  maxInfraRetries: number;
  /** The Hub's base URL (`HF_ENDPOINT`): a run's published URL must be on it. */
  hubUrl: string;
  /** A dispatch that left no run after this long (ms) is dispatched again at reconciliation. */
  lostDispatchMs: number;
  /**
   * A request whose size check or pre-check keeps failing for a transient reason (the Hub
   * down, a network error) is retried at each reconciliation for this long (ms) after it was
   * received, then failed and the requester told, instead of waiting in silence for ever.
   */
  precheckGiveUpMs: number;
}

export const DEFAULTS = {
  workflowFile: "expo-job.yml",
  workflowRef: "main",
  ledgerPath: "./data/ledger.sqlite",
  hubWebhookPath: "/api/hub/webhooks",
  pollIntervalMs: 15 * 60_000,
  reconcileIntervalMs: 10 * 60_000,
  quotaPerRequester: 3,
  quotaGlobal: 20,
  maxParams: 15e9,
  maxInfraRetries: 1,
  hubUrl: "https://huggingface.co",
  lostDispatchMs: 10 * 60_000,
  precheckGiveUpMs: 24 * 3600_000,
} as const;

/** Secrets no deployment may run with: empty, Probot's silent default, or obvious placeholders. */
const WEAK_SECRETS = new Set(["", "development", "secret", "changeme", "test", "webhook-secret"]);

/**
 * Probot falls back to the secret "development" when WEBHOOK_SECRET is unset, which lets
 * anyone who knows that forge GitHub events. Refuse to start instead.
 */
export function assertRealSecret(name: string, value: string | undefined): string {
  if (value === undefined || value.trim() === "") throw new UserError(`${name} is not set: generate one (e.g. \`openssl rand -hex 32\`) and set it in the app's settings and here`);
  if (WEAK_SECRETS.has(value.trim().toLowerCase())) throw new UserError(`${name} is a well-known placeholder value; set a random secret (e.g. \`openssl rand -hex 32\`)`);
  if (value.length < 16) throw new UserError(`${name} is too short (${value.length} characters); use at least 16 random characters`);
  // Long but not random: one character repeated, a short pattern repeated, few distinct characters.
  const distinct = new Set(value).size;
  if (distinct < 6) throw new UserError(`${name} has only ${distinct} distinct characters; use a random secret (e.g. \`openssl rand -hex 32\`)`);
  if (/^(.{1,8})\1+.{0,8}$/s.test(value)) throw new UserError(`${name} is a short pattern repeated; use a random secret (e.g. \`openssl rand -hex 32\`)`);
  return value;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${name}=${v} is not a non-negative number`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BotConfig {
  const homeRepo = env.EXPO_HOME_REPO ?? "";
  if (!isRepoId(homeRepo)) throw new UserError(`EXPO_HOME_REPO must be the home repository as OWNER/NAME (got ${JSON.stringify(homeRepo)})`);
  const hubSecret = env.HF_WEBHOOK_SECRET;
  const cfg: BotConfig = {
    homeRepo,
    installationId: env.EXPO_INSTALLATION_ID ? int(env, "EXPO_INSTALLATION_ID", 0) : undefined,
    workflowFile: env.EXPO_WORKFLOW ?? DEFAULTS.workflowFile,
    workflowRef: env.EXPO_WORKFLOW_REF ?? DEFAULTS.workflowRef,
    ledgerPath: env.EXPO_LEDGER ?? DEFAULTS.ledgerPath,
    hubWebhookSecret: hubSecret ? assertRealSecret("HF_WEBHOOK_SECRET", hubSecret) : undefined,
    hubWebhookPath: env.HF_WEBHOOK_PATH ?? DEFAULTS.hubWebhookPath,
    pollIntervalMs: int(env, "EXPO_POLL_MINUTES", DEFAULTS.pollIntervalMs / 60_000) * 60_000,
    reconcileIntervalMs: int(env, "EXPO_RECONCILE_MINUTES", DEFAULTS.reconcileIntervalMs / 60_000) * 60_000,
    botNamespace: env.EXPO_HUB_NAMESPACE || undefined,
    allowedUsers: (env.EXPO_ALLOWED_USERS ?? "").split(/[\s,]+/).filter(Boolean).map((u) => u.toLowerCase()),
    quotaPerRequester: int(env, "EXPO_QUOTA_PER_REQUESTER", DEFAULTS.quotaPerRequester),
    quotaGlobal: int(env, "EXPO_QUOTA_GLOBAL", DEFAULTS.quotaGlobal),
    maxParams: int(env, "EXPO_MAX_PARAMS", DEFAULTS.maxParams),
    hubCommentsForGitHubRequests: env.EXPO_HUB_COMMENTS_FOR_GITHUB !== "false",
    maxInfraRetries: int(env, "EXPO_MAX_INFRA_RETRIES", DEFAULTS.maxInfraRetries),
    hubUrl: (env.HF_ENDPOINT || DEFAULTS.hubUrl).replace(/\/+$/, ""),
    lostDispatchMs: int(env, "EXPO_LOST_DISPATCH_MINUTES", DEFAULTS.lostDispatchMs / 60_000) * 60_000,
    precheckGiveUpMs: int(env, "EXPO_PRECHECK_GIVE_UP_HOURS", DEFAULTS.precheckGiveUpMs / 3600_000) * 3600_000,
  };
  return cfg;
}

/** A config for tests and embedding: defaults plus `overrides`. */
export function makeConfig(overrides: Partial<BotConfig> & { homeRepo: string }): BotConfig {
  return {
    workflowFile: DEFAULTS.workflowFile,
    workflowRef: DEFAULTS.workflowRef,
    ledgerPath: ":memory:",
    hubWebhookPath: DEFAULTS.hubWebhookPath,
    pollIntervalMs: 0,
    reconcileIntervalMs: 0,
    allowedUsers: [],
    quotaPerRequester: DEFAULTS.quotaPerRequester,
    quotaGlobal: DEFAULTS.quotaGlobal,
    maxParams: DEFAULTS.maxParams,
    hubCommentsForGitHubRequests: true,
    maxInfraRetries: DEFAULTS.maxInfraRetries,
    hubUrl: DEFAULTS.hubUrl,
    lostDispatchMs: DEFAULTS.lostDispatchMs,
    precheckGiveUpMs: DEFAULTS.precheckGiveUpMs,
    ...overrides,
  };
}
