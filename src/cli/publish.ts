/**
 * `expo-bot publish --model DIR --report search.json [--repo NAMESPACE/NAME-ExPO]`: push an
 * extrapolated model folder to the Hub with a generated model card (src/publish).
 */
import { parseArgs } from "node:util";
import { createHubClient, parseRepoRef } from "../hub/index.js";
import { publishModel, PublishRefusedError } from "../publish/publish.js";
import type { SourceModel } from "../publish/types.js";
import { UserError } from "../util/errors.js";

const HELP = `Usage: expo-bot publish --model DIR --report search.json [options]

Publishes an extrapolated model folder as <namespace>/<θ1 name>-ExPO on the Hub, with a
model card (metadata, per-α table, plot, usage, reproduction, licence, citation), the plot,
θ1's licence files and every file of the folder, in one commit. Reruns are no-ops; a rerun
after a broken upload sends only what is missing. A name held by a model built from other
sources is never overwritten: <name>-ExPO-<hash of the sources> is used instead.

Options:
  --model DIR            the extrapolated model folder (its provenance file names θ1/θ0)
  --report FILE          the α search's search.json (alpha-curve.svg/.png are taken from
                         the same folder)
  --repo OWNER/NAME      output repo (default <token user>/<θ1 name>-ExPO); licences that
                         prescribe names (Llama 3.x: "Llama…") still apply
  --namespace NAME       owner of the default name (default: the token's user)
  --theta1 ID[@REV]      θ1 on the Hub, when the folder has no provenance file
  --theta0 ID[@REV]      θ0 on the Hub, likewise
  --allow-gated          publish derivatives of gated models (the output is not gated)
  --allow-private        publish derivatives of private models
  --run-url URL          link to the run that built the model, shown in the card
  --hub-url URL          Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  --dry-run              plan and print the card to stdout; write nothing
  --json                 print the result as JSON
  -h, --help             this help

The Hub token is read from $HF_TOKEN (needs write access to the namespace).
Exit codes: 0 published or unchanged, 2 bad input, 3 Hub error, 4 refused (licence or
access), 5 nothing to publish (the search found no gain).`;

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
  const { values } = parseArgs({
    args: argv,
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
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model) throw new UserError("--model DIR is required (the extrapolated model folder)");
  if (!values.report) throw new UserError("--report FILE is required (the α search's search.json)");
  const token = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined;
  if (!token && !values["dry-run"]) throw new UserError("no Hub token: set HF_TOKEN to a token with write access (or use --dry-run)");
  const client = createHubClient({ token, ...(values["hub-url"] ? { hubUrl: values["hub-url"] } : {}) });
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
      dryRun: values["dry-run"] ?? false,
      log,
    });
    if (values.json) {
      const { card, ...rest } = result;
      console.log(JSON.stringify(values["dry-run"] ? result : { ...rest, cardBytes: Buffer.byteLength(card) }, null, 2));
      return 0;
    }
    for (const w of result.warnings) console.error(`warning: ${w}`);
    if (result.status === "dry-run") {
      process.stdout.write(result.card);
      console.error(`dry run: would publish ${result.repo} (${result.uploaded.length} file(s) to upload, ${result.deleted.length} to delete, ${result.unchanged.length} unchanged)`);
    } else if (result.status === "unchanged") {
      console.log(`${result.url}: already up to date (${result.unchanged.length} files unchanged)`);
    } else {
      console.log(`${result.url}: ${result.status}, commit ${result.commit} (${result.uploaded.length} uploaded, ${result.deleted.length} deleted, ${result.unchanged.length} unchanged)`);
    }
    return 0;
  } catch (err) {
    if (err instanceof PublishRefusedError && values.json) {
      console.log(JSON.stringify({ status: "refused", reasons: err.reasons }, null, 2));
      return err.exitCode;
    }
    throw err;
  }
}
