/**
 * The exit codes every `expo-bot` command uses, and their table for `--help` and the README.
 * A command returns one of these, or throws a UserError carrying one (src/util/errors.ts);
 * src/cli.ts turns anything else into `internal`.
 */
export const EXIT = {
  /** Done (check: pass or warn). */
  ok: 0,
  /** A bug: anything that is not a UserError. */
  internal: 1,
  /** A flag, file or model folder is wrong; the message names it. */
  badInput: 2,
  /** The pair is refused (check, or the pre-check of extrapolate/search), or publishing is forbidden (licence, access). */
  refused: 3,
  /** The Hub or a server could not be reached, or a model is missing, gated or private, or not cached offline. */
  unreachable: 4,
  /** The search found no α better than θ1 (publish: nothing to publish). */
  noGain: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The name `--json` errors carry, by code. */
export const EXIT_KIND: Record<number, string> = {
  0: "ok",
  1: "internal-error",
  2: "bad-input",
  3: "refused",
  4: "unreachable",
  5: "no-gain",
};

/** The table printed by `expo-bot --help`, every command's `--help`, and the README. */
export const EXIT_CODES_HELP = `Exit codes (the same for every command):
  0  done (check: pass or warn)
  1  internal error (a bug; rerun with EXPO_BOT_DEBUG=1 for the stack)
  2  bad input: a flag, file or model folder is wrong (the message names it)
  3  refused: the pair fails the check, or a licence/access rule forbids publishing
  4  unreachable: the Hub or a server cannot be reached; a model is missing, gated,
     private, or not in the cache with HF_HUB_OFFLINE=1
  5  no gain: the search found no α better than θ1 (publish: nothing to publish)
With --json, an error is also printed on stdout as {"error": {"exitCode", "kind", "message"}}.`;
