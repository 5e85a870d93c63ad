/**
 * `expo-bot <command>`: thin dispatch to one module per command under src/cli/.
 * Each command module exports `run(argv): Promise<number>` (the exit code, src/cli/exit-codes.ts).
 * Errors become one line on stderr (and, with --json, {"error": …} on stdout) and their exit code.
 */
import { readFileSync } from "node:fs";
import { EXIT, EXIT_CODES_HELP, EXIT_KIND } from "./cli/exit-codes.js";
import { suggest } from "./util/args.js";
import { HubOfflineError, HubTransferError } from "./hub/errors.js";
import { SafetensorsError } from "./safetensors/header.js";
import { UserError, errorMessage } from "./util/errors.js";
import { scrubSecrets } from "./util/redact.js";

interface CommandModule {
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  check: { summary: "is θ1 trained from θ0? pass/warn/refuse a pair from kilobytes of range reads", load: () => import("./cli/check.js") },
  extrapolate: { summary: "write θ2 = θ1 + α(θ1 − θ0) as a model folder, streaming", load: () => import("./cli/extrapolate.js") },
  search: { summary: "search α by generating and scoring answers; writes search.json and the α plot", load: () => import("./cli/search.js") },
  publish: { summary: "publish a model folder as <namespace>/<θ1 name>-ExPO with a generated model card", load: () => import("./cli/publish.js") },
  job: { summary: "run one bot request on a GPU runner: download, check, search, extrapolate, publish → results.json", load: () => import("./cli/job.js") },
  inspect: { summary: "list and validate the tensors of a safetensors file or model folder", load: () => import("./cli/inspect.js") },
  generate: { summary: "generate text with a causal LM folder on the embedded ONNX Runtime backend", load: () => import("./cli/generate.js") },
  score: { summary: "score responses with a reward model folder on the embedded ONNX Runtime backend", load: () => import("./cli/score.js") },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: expo-bot <command> [options]

Commands:
${lines.join("\n")}

Models are local folders or Hub ids owner/name[@revision] (downloaded once to the cache under
$HF_HOME; HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE=1 are honoured).
Run \`expo-bot <command> --help\` for a command's options; \`expo-bot --version\` for the version.

${EXIT_CODES_HELP}`;
}

export function version(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/** What to do when the Hub cannot be reached: named where the user reads the error. */
const OFFLINE_ADVICE =
  "Offline? Use local model folders, --prompts FILE for search, publish --dry-run, and HF_HUB_OFFLINE=1 to use only cached models; behind a mirror, set HF_ENDPOINT.";

function errorText(err: unknown): { message: string; exitCode: number } {
  if (err instanceof HubTransferError) return { message: `${err.message}\n${OFFLINE_ADVICE}`, exitCode: err.exitCode };
  if (err instanceof HubOfflineError) return { message: `${err.message}\nUnset HF_HUB_OFFLINE, or use local folders / cached models, --prompts FILE, publish --dry-run.`, exitCode: err.exitCode };
  if (err instanceof UserError) return { message: err.message, exitCode: err.exitCode };
  // A corrupt or truncated weights file is the user's input, whichever command read it.
  if (err instanceof SafetensorsError) return { message: err.message, exitCode: EXIT.badInput };
  return { message: `internal error: ${errorMessage(err)}`, exitCode: EXIT.internal };
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? EXIT.ok : EXIT.badInput;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`expo-bot ${version()}`);
    return EXIT.ok;
  }
  const command = commands[name];
  if (!command) {
    const hint = suggest(name, Object.keys(commands));
    console.error(`expo-bot: unknown command "${name}"${hint ? `; did you mean "${hint}"?` : ""}\n\n${usage()}`);
    return EXIT.badInput;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    const { exitCode, message: raw } = errorText(err);
    // Scrubbed before it is printed or put in JSON: an error may quote a URL or header with a token.
    const message = scrubSecrets(raw);
    console.error(`expo-bot ${name}: ${message}`);
    if (rest.includes("--json")) console.log(JSON.stringify({ error: { exitCode, kind: EXIT_KIND[exitCode] ?? "error", message } }, null, 2));
    if (exitCode === EXIT.internal && process.env.EXPO_BOT_DEBUG) console.error(scrubSecrets(String((err as Error)?.stack ?? err)));
    return exitCode;
  }
}
