/**
 * Building the production bot from the environment. Called inside Probot's app function, so
 * Probot has already loaded `.env`; any problem is thrown before the server listens.
 */
import { createHubClient } from "../hub/index.js";
import { UserError } from "../util/errors.js";
import { registerSecret } from "../util/redact.js";
import { createExpoApp, type ExpoApp } from "./app.js";
import { assertRealSecret, loadConfig } from "./config.js";
import { Ledger } from "./ledger.js";
import { hubAdapter, hubDiscussions, hubPrecheck, publishRenderer } from "./wiring.js";

/** Every secret the environment holds, registered for redaction in logs and reports. */
export const SECRET_ENV = ["WEBHOOK_SECRET", "HF_WEBHOOK_SECRET", "HF_TOKEN", "PRIVATE_KEY", "GITHUB_CLIENT_SECRET", "GITHUB_TOKEN"] as const;

export function registerEnvSecrets(env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_ENV) registerSecret(env[name]);
}

export function buildBot(env: NodeJS.ProcessEnv = process.env): { bot: ExpoApp; ledger: Ledger } {
  // Probot silently uses "development" when WEBHOOK_SECRET is unset: anyone could forge events.
  registerEnvSecrets(env);
  assertRealSecret("WEBHOOK_SECRET", env.WEBHOOK_SECRET);
  if (!env.APP_ID) throw new UserError("APP_ID is not set: the GitHub App's id (Settings → Developer settings → GitHub Apps → your app)");
  if (!env.PRIVATE_KEY && !env.PRIVATE_KEY_PATH) throw new UserError("PRIVATE_KEY or PRIVATE_KEY_PATH is not set: the GitHub App's private key (.pem)");
  const config = loadConfig(env);
  const token = env.HF_TOKEN?.trim() || undefined;
  if (!token) throw new UserError("HF_TOKEN is not set: the bot's Hub token (read access for the pre-check; it posts the Hub discussion comments)");
  const hubOptions = { token, hubUrl: env.HF_ENDPOINT || undefined };
  const client = createHubClient(hubOptions);
  const ledger = new Ledger(config.ledgerPath);
  const bot = createExpoApp({
    config,
    ledger,
    hub: hubAdapter(client),
    precheck: hubPrecheck(hubOptions),
    discussions: hubDiscussions(client),
    renderer: publishRenderer({ hubUrl: client.hubUrl, githubUrl: env.GHE_HOST ? `${env.GHE_PROTOCOL || "https"}://${env.GHE_HOST}` : undefined }),
  });
  return { bot, ledger };
}
