/**
 * `expo-bot <command>`: thin dispatch to one module per command under src/cli/.
 * Each command module exports `run(argv): Promise<number>` (the exit code).
 */
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
  return `Usage: expo-bot <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun \`expo-bot <command> --help\` for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`expo-bot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    if (err instanceof UserError) {
      console.error(scrubSecrets(`expo-bot ${name}: ${err.message}`));
      return err.exitCode;
    }
    // parseArgs errors are the user's too.
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(scrubSecrets(`expo-bot ${name}: ${err.message}`));
      return 2;
    }
    console.error(scrubSecrets(`expo-bot ${name}: internal error: ${errorMessage(err)}`));
    if (process.env.EXPO_BOT_DEBUG) console.error(scrubSecrets(String((err as Error)?.stack ?? err)));
    return 1;
  }
}

