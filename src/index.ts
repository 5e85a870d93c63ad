/**
 * `npm start`: the ExPO Bot server (Probot). Configuration is the environment (and `.env`,
 * which Probot loads); see docs/deploy.md. The app refuses to start without a real
 * WEBHOOK_SECRET, an app id and key, a home repository and a Hub token.
 *
 * With no APP_ID outside production, Probot serves its setup page instead, which registers
 * the GitHub App from app.yml and writes the credentials to `.env`.
 */
import { run } from "probot";
import { buildBot } from "./bot/start.js";
import type { Ledger } from "./bot/ledger.js";
import { UserError } from "./util/errors.js";

let ledger: Ledger | null = null;
let stopBot = () => {};

try {
  await run(async (app, options) => {
    const built = buildBot(process.env);
    ledger = built.ledger;
    stopBot = () => built.bot.stop();
    await built.bot.appFn(app, options);
  });
} catch (err) {
  console.error(err instanceof UserError ? `expo-bot: ${err.message}` : err);
  process.exit(1);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    stopBot();
    ledger?.close();
    process.exit(0);
  });
}
