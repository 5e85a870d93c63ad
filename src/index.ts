/**
 * `npm start`: the ExPO Bot server (Probot). Configuration is the environment (and `.env`,
 * which Probot loads); see docs/deploy.md. The app refuses to start without a real
 * WEBHOOK_SECRET, an app id and key, a home repository and a Hub token.
 *
 * With no APP_ID outside production, Probot serves its setup page instead, which registers
 * the GitHub App from app.yml and writes the credentials to `.env`.
 */
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { run } from "probot";
import { createBotLog } from "./bot/log.js";
import { buildBot, registerEnvSecrets } from "./bot/start.js";
import type { Ledger } from "./bot/ledger.js";
import { UserError } from "./util/errors.js";
import { scrubSecrets } from "./util/redact.js";

let ledger: Ledger | null = null;
let stopBot = () => {};

try {
  // Probot reads .env in run(); read it first (the same way) so the log level and format apply
  // and the secrets are registered before any line is logged.
  try {
    Object.assign(process.env, parseEnv(readFileSync(".env", "utf8")));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  registerEnvSecrets(process.env);
  // Every logger (Probot's, its HTTP logger, the bot's) writes through one redacting stream.
  const log = await createBotLog({ level: process.env.LOG_LEVEL, logFormat: process.env.LOG_FORMAT, logLevelInString: process.env.LOG_LEVEL_IN_STRING === "true" });
  await run(async (app, options) => {
    registerEnvSecrets(process.env);
    const built = buildBot(process.env);
    ledger = built.ledger;
    stopBot = () => built.bot.stop();
    await built.bot.appFn(app, options);
  }, { log });
} catch (err) {
  console.error(scrubSecrets(err instanceof UserError ? `expo-bot: ${err.message}` : String((err as Error)?.stack ?? err)));
  process.exit(1);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    stopBot();
    ledger?.close();
    process.exit(0);
  });
}
