/**
 * Flag parsing shared by every command: node:util's parseArgs, strict, plus the conventions
 * users expect from ML tools —
 * - a negative number may follow a flag that takes a value (`--alpha -0.5`), not only
 *   `--alpha=-0.5`;
 * - a mistyped flag gets a "did you mean" (`--max-new-token` → `--max-new-tokens`);
 * - every parse error is a UserError (exit 2, src/cli/exit-codes.ts) naming the flag.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UserError } from "./errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface ParseCommandArgsParams<O extends Options> {
  argv: string[];
  options: O;
  allowPositionals?: boolean;
  /** Old spellings still accepted: `{ "max-tokens": "max-new-tokens" }` (old → current). */
  aliases?: Record<string, string>;
}

const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity\b)/;

/** `--flag -0.5` → `--flag=-0.5` for flags that take a value, so parseArgs does not read `-0.5` as flags. */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith("--") && !a.includes("=") ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === "string" && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Edit distance, for suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name`, if it is close enough to be a typo (or a prefix of it). */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(name) && name.length >= 3 ? 0.5 : editDistance(name, k);
    if (!best || d < best.d) best = { name: k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}

function rename(argv: string[], aliases: Record<string, string>): string[] {
  return argv.map((a) => {
    const m = /^--([^=]+)(=.*)?$/.exec(a);
    const to = m ? aliases[m[1]!] : undefined;
    return to ? `--${to}${m![2] ?? ""}` : a;
  });
}

export function parseCommandArgs<O extends Options>(params: ParseCommandArgsParams<O>) {
  const { options, allowPositionals = false } = params;
  const argv = joinNegativeValues(rename(params.argv, params.aliases ?? {}), options);
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code?.startsWith("ERR_PARSE_ARGS")) throw err;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const m = /Unknown option '(-{1,2})([^']+)'/.exec((err as Error).message);
      const flag = m ? `${m[1]}${m[2]}` : "?";
      const aliases = params.aliases ?? {};
      const near = m ? suggest(m[2]!, [...Object.keys(options), ...Object.keys(aliases)]) : undefined;
      const hint = near === undefined ? undefined : (aliases[near] ?? near);
      throw new UserError(`unknown option ${flag}${hint ? `; did you mean --${hint}?` : ""} (see --help)`);
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const m = /Unexpected argument '([^']*)'/.exec((err as Error).message);
      throw new UserError(`unexpected argument "${m?.[1] ?? "?"}": every value belongs to a flag (see --help)`);
    }
    throw new UserError((err as Error).message.split("\n")[0]!.replace(/\. To specify an option argument.*$/, ""));
  }
}
