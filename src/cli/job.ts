/**
 * `expo-bot job --request request.json --out DIR [search options]`: the runner job for one
 * bot request (src/job). Resumable: rerun with the same --out to continue.
 */
import { readFile } from "node:fs/promises";
import { SEARCH_FLAG_ALIASES, SEARCH_FLAG_OPTIONS } from "../search/settings.js";
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { registerSecret } from "../util/redact.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { parseJobRequest, runJob } from "../job/job.js";
import { defaultSteps } from "../job/steps.js";

const HELP = `Usage: expo-bot job --request FILE --out DIR [options] [search options]

Runs one ExPO request as resumable steps — download θ1 and θ0 at their commits, the full
pair check, the α search, extrapolation at the chosen α, publishing — and writes
DIR/results.json (the bot's contract, src/job/results.ts) whatever happens. Rerun with the
same --out to continue where it stopped.

Options:
  --request FILE      {requestId, theta1: {repo, sha}, theta0: {repo, sha}, alpha}
  --out DIR           work and output folder
  --namespace NAME    owner of <θ1 name>-ExPO (default: the token's user; $EXPO_HUB_NAMESPACE)
  --run-url URL       link to this run in the card (default: the GitHub Actions run, if any)
  --hub-url URL       Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  --allow-gated       publish derivatives of gated models
  --allow-private     publish derivatives of private models
  -h, --help          this help

Every other option goes to \`expo-bot search\` (e.g. --generator openai --endpoint URL,
--n-prompts 200). --reward-model takes a folder or a Hub id, which the download step fetches;
without it the embedded scorer uses the paper's reward model, weqweasdas/RM-Mistral-7B.
The Hub token is read from $HF_TOKEN.

Whatever happens, DIR/results.json says it (outcome published | no-gain | failed, the step
and message). The exit code follows the table: 0 published, 5 no gain, 3 the full check
refused the pair, 1 any other failed step.

${EXIT_CODES_HELP}`;

const VALUE_OPTIONS = new Set(["--request", "--out", "--namespace", "--run-url", "--hub-url"]);
const FLAG_OPTIONS = new Set(["--allow-gated", "--allow-private"]);

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(HELP);
    return EXIT.ok;
  }
  // Every flag is checked up front (typos get a suggestion), before the request is read.
  parseCommandArgs({
    argv,
    aliases: SEARCH_FLAG_ALIASES,
    options: {
      ...SEARCH_FLAG_OPTIONS,
      request: { type: "string" },
      out: { type: "string" },
      namespace: { type: "string" },
      "run-url": { type: "string" },
      "hub-url": { type: "string" },
      "allow-gated": { type: "boolean" },
      "allow-private": { type: "boolean" },
    },
  });
  const values: Record<string, string | boolean> = {};
  const passthrough: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].includes("=") ? [argv[i].slice(0, argv[i].indexOf("=")), argv[i].slice(argv[i].indexOf("=") + 1)] : [argv[i], undefined];
    if (VALUE_OPTIONS.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UserError(`${name} needs a value`);
      values[name] = v;
    } else if (FLAG_OPTIONS.has(name)) values[name] = true;
    else passthrough.push(argv[i]);
  }
  const requestPath = values["--request"] as string | undefined;
  const out = values["--out"] as string | undefined;
  if (!requestPath) throw new UserError("--request FILE is required");
  if (!out) throw new UserError("--out DIR is required");
  const request = parseJobRequest(await readFile(requestPath, "utf8").catch(() => {
    throw new UserError(`--request ${requestPath}: cannot read`);
  }), requestPath);
  const env = process.env;
  // The token is redacted wherever it might surface: the job's log lines and results.json's error.
  registerSecret(env.HF_TOKEN);
  const runUrl = (values["--run-url"] as string | undefined) ?? (env.GITHUB_RUN_ID && env.GITHUB_REPOSITORY ? `${env.GITHUB_SERVER_URL ?? "https://github.com"}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined);
  const steps = defaultSteps({
    hub: { token: env.HF_TOKEN?.trim() || undefined, hubUrl: (values["--hub-url"] as string | undefined) ?? (env.HF_ENDPOINT || undefined) },
    searchArgs: passthrough,
    namespace: (values["--namespace"] as string | undefined) ?? (env.EXPO_HUB_NAMESPACE || undefined),
    runUrl,
    allowGated: values["--allow-gated"] === true,
    allowPrivate: values["--allow-private"] === true,
  });
  const results = await runJob({ request, out, steps, log: (line) => console.error(`expo-bot job: ${line}`) });
  console.log(JSON.stringify({ outcome: results.outcome, chosenAlpha: results.chosenAlpha, published: results.published, error: results.error }));
  if (results.outcome === "published") return EXIT.ok;
  if (results.outcome === "no-gain") return EXIT.noGain;
  return results.error?.step === "check" ? EXIT.refused : EXIT.internal;
}
