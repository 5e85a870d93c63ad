/**
 * `expo-bot publish --model DIR --report search.json [--repo NAMESPACE/NAME-ExPO]`: push an
 * extrapolated model folder to the Hub with a generated model card (src/publish).
 */
import { createHubClient, parseRepoRef } from "../hub/index.js";
import { publishModel, PublishRefusedError } from "../publish/publish.js";
import type { SourceModel } from "../publish/types.js";
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";

const HELP = `Usage: expo-bot publish --model DIR --report search.json [options]

Publishes an extrapolated model folder as <namespace>/<θ1 name>-ExPO on the Hub, with a
model card (metadata, per-α table, plot, usage, reproduction, licence, citation), the plot,
θ1's licence files and every file of the folder, in one commit. Reruns are no-ops; a rerun
after a broken upload sends only what is missing. A name held by a model built from other
sources is never overwritten: <name>-ExPO-<hash of the sources> is used instead.
Before anything is sent, the folder must be a complete model (config, weights, tokenizer) or
adapter whose safetensors files all pass \`expo-bot inspect\`'s validation, and its
expo_provenance.json must agree with --theta1/--theta0 (or supply them).

Options:
  --model DIR            the extrapolated model folder (its provenance file names θ1/θ0)
  --report FILE          the α search's search.json (alpha-curve.svg/.png are taken from
                         the same folder)
  --repo OWNER/NAME      output repo, used exactly as given (default <token user>/<θ1
                         name>-ExPO); refused if θ1's licence prescribes a name it lacks
                         (Llama 3.x: "Llama…") or it holds a model from other sources
  --namespace NAME       owner of the default name (default: the token's user)
  --theta1 ID[@REV]      θ1 on the Hub, when the folder has no provenance file
  --theta0 ID[@REV]      θ0 on the Hub, likewise
  --allow-gated          publish derivatives of gated models (the output is not gated)
  --allow-private        publish derivatives of private models
  --run-url URL          link to the run that built the model, shown in the card
  --hub-url URL          Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  --dry-run              plan from the local files and print the card to stdout: no
                         request to the Hub, no token needed (licence, access and the
                         existing repo are checked by the real run)
  --json                 print the result as JSON
  -h, --help             this help

The Hub token is read from $HF_TOKEN (needs write access to the namespace).

${EXIT_CODES_HELP}`;

function sourceOption(value: string | undefined, flag: string): SourceModel | undefined {
  if (value === undefined) return undefined;
  try {
    const ref = parseRepoRef(value);
    return { id: ref.repo, revision: ref.revision ?? "main" };
  } catch (err) {
    throw new UserError(`${flag}: ${(err as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    argv,
    options: {
      model: { type: "string" },
      report: { type: "string" },
      repo: { type: "string" },
      namespace: { type: "string" },
      theta1: { type: "string" },
      theta0: { type: "string" },
      "allow-gated": { type: "boolean" },
      "allow-private": { type: "boolean" },
      "run-url": { type: "string" },
      "hub-url": { type: "string" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model) throw new UserError("--model DIR is required (the extrapolated model folder)");
  if (!values.report) throw new UserError("--report FILE is required (the α search's search.json)");
  const dryRun = values["dry-run"] ?? false;
  const token = dryRun ? undefined : process.env.HF_TOKEN?.trim() || process.env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  if (!token && !dryRun) throw new UserError("no Hub token: set HF_TOKEN to a token with write access (or use --dry-run, which needs neither token nor network)");
  // A dry run never makes a request: the client is offline whatever the environment says.
  const client = createHubClient({ token, offline: dryRun || undefined, ...(values["hub-url"] ? { hubUrl: values["hub-url"] } : {}) });
  const log = values.json ? () => undefined : (line: string) => console.error(line);
  try {
    const result = await publishModel({
      client,
      modelDir: values.model,
      reportPath: values.report,
      ...(values.repo ? { repo: values.repo } : {}),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(values.theta1 ? { theta1: sourceOption(values.theta1, "--theta1")! } : {}),
      ...(values.theta0 ? { theta0: sourceOption(values.theta0, "--theta0")! } : {}),
      access: { allowGated: values["allow-gated"] ?? false, allowPrivate: values["allow-private"] ?? false },
      ...(values["run-url"] ? { runUrl: values["run-url"] } : {}),
      dryRun,
      local: dryRun,
      log,
    });
    if (values.json) {
      const { card, ...rest } = result;
      console.log(JSON.stringify(dryRun ? result : { ...rest, cardBytes: Buffer.byteLength(card) }, null, 2));
      return EXIT.ok;
    }
    for (const w of result.warnings) console.error(`warning: ${w}`);
    if (result.status === "dry-run") {
      process.stdout.write(result.card);
      console.error(`dry run: would publish ${result.repo}: ${result.uploaded.length} file(s) (${result.uploaded.join(", ")})`);
      for (const u of result.unchecked ?? []) console.error(`  not checked without the Hub: ${u}`);
    } else if (result.status === "unchanged") {
      console.log(`${result.url}: already up to date (${result.unchanged.length} files unchanged)`);
    } else {
      console.log(`${result.url}: ${result.status}, commit ${result.commit} (${result.uploaded.length} uploaded, ${result.deleted.length} deleted, ${result.unchanged.length} unchanged)`);
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof PublishRefusedError && values.json) {
      console.log(JSON.stringify({ status: "refused", reasons: err.reasons }, null, 2));
      return err.exitCode;
    }
    throw err;
  }
}
