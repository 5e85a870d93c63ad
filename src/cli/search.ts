/**
 * `expo-bot search`: find the α for θ2 = θ1 + α(θ1 − θ0) by generating answers to held-out
 * prompts and scoring them with a reward model. Writes OUT/search.json, OUT/alpha-curve.svg,
 * OUT/alpha-curve.png and the resumable cache OUT/cache.jsonl. Thin: flags → SearchSettings
 * (src/search/settings.ts), models → folders (model-ref.ts), the pair check first
 * (pre-check.ts), then runConfiguredSearch (src/search/configured.ts), as the runner job does.
 */
import { resolve } from "node:path";
import { parseCommandArgs } from "../util/args.js";
import { UserError } from "../util/errors.js";
import { Progress, progressMode } from "../util/progress.js";
import { loadSearchPrompts, runConfiguredSearch } from "../search/configured.js";
import { alphaTableText, decisionText, publishedGainText, whyChosen } from "../search/explain.js";
import { SEARCH_FLAG_ALIASES, SEARCH_FLAG_OPTIONS, SEARCH_FLAGS_HELP, searchSettingsFrom } from "../search/settings.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { resolveModelArg } from "./model-ref.js";
import { IGNORE_CHECK_FLAG, preCheck } from "./pre-check.js";

const USAGE = `Usage: expo-bot search --sft M --aligned M --reward-model M --out DIR [options]

Finds α for θ2 = θ1 + α(θ1 − θ0): generates answers to held-out prompts at several α,
scores them with a reward model, and picks the best α whose gain over α = 0 (θ1 itself) is
significant — or says "no gain" (exit 5). Writes search.json, alpha-curve.svg/.png and
cache.jsonl into --out; rerunning with the same --out resumes without regenerating finished
answers. The pair is checked first, as \`expo-bot check\` does; a refused pair stops here.

M is a model folder or a Hub id owner/name[@revision] (downloaded once to the cache).

  --sft M                θ0, the SFT model
  --aligned M            θ1, the DPO/RLHF model trained from θ0
  ${IGNORE_CHECK_FLAG}         run even if the pair check refuses the pair
  --hub-url URL          Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
${SEARCH_FLAGS_HELP}
Output
  --out DIR              output folder (required)
  --json                 print search.json's decision and cost as JSON on stdout
  --json-progress        progress as JSON lines on stderr (also with --json; default: a bar on a TTY, plain lines otherwise)
  --quiet                no progress

${EXIT_CODES_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    argv,
    aliases: SEARCH_FLAG_ALIASES,
    options: {
      ...SEARCH_FLAG_OPTIONS,
      sft: { type: "string" },
      aligned: { type: "string" },
      "ignore-check": { type: "boolean" },
      "hub-url": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      "json-progress": { type: "boolean" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  // Everything that can be refused from the flags alone, before any download or generation.
  const settings = searchSettingsFrom(values);
  if (!values.out) throw new UserError("--out DIR is required");
  if (settings.scorer.kind === "embedded" && !settings.scorer.rewardModel) throw new UserError("--reward-model is required with the embedded scorer (a folder or a Hub id owner/name[@revision])");
  const out = resolve(values.out);
  const hubUrl = values["hub-url"];
  const quiet = values.quiet ?? false;
  const mode = progressMode({ quiet, json: values["json-progress"] || values.json });
  const sft = await resolveModelArg({ value: values.sft, flag: "--sft", hubUrl, progress: !quiet });
  const aligned = await resolveModelArg({ value: values.aligned, flag: "--aligned", hubUrl, progress: !quiet });
  await preCheck({ command: "search", sft: sft.dir, aligned: aligned.dir, sftId: sft.hub?.repo, alignedId: aligned.hub?.repo, ignore: values["ignore-check"] ?? false, quiet });
  // Prompts next: too few is refused before the reward model is fetched or anything generated.
  await loadSearchPrompts(settings, hubUrl);
  const rm = settings.scorer.kind === "embedded" ? await resolveModelArg({ value: settings.scorer.rewardModel, flag: "--reward-model", hubUrl, progress: !quiet }) : undefined;

  let progress: Progress | undefined;
  let progressKey = "";
  const { report, paths } = await runConfiguredSearch({
    settings,
    sft: sft.dir,
    aligned: aligned.dir,
    rewardModel: rm ? { dir: rm.dir, id: rm.hub ? `${rm.hub.repo}@${rm.hub.revision}` : undefined } : undefined,
    out,
    hubUrl,
    log: quiet ? undefined : (line) => console.error(line),
    onEvent: (e) => {
      if (quiet) return;
      if (e.kind === "materialize") {
        progress?.finish();
        progress = undefined;
        progressKey = "";
        console.error(`α=${e.alpha}: preparing the model`);
      }
      if (e.kind === "evaluated") {
        const key = `${e.alpha}:${e.target}`;
        if (key !== progressKey) {
          progress?.finish();
          progressKey = key;
          progress = new Progress({ label: `α=${e.alpha}`, total: e.target, mode });
        }
        progress?.update(e.done, `prompts`);
      }
    },
  });
  (progress as Progress | undefined)?.finish();
  const d = report.decision;
  if (values.json) {
    console.log(JSON.stringify({ decision: d, cost: report.cost, files: paths }, null, 2));
  } else {
    console.log(alphaTableText(report));
    console.log("");
    console.log(decisionText(report));
    const why = whyChosen(report);
    if (why) console.log(why);
    const published = publishedGainText(report);
    if (published) console.log(published);
    console.log(`${report.cost.generations} answers generated (${report.cost.cachedGenerations} from the cache), ${report.cost.modelLoads} model loads`);
    console.log(`wrote ${paths.json}, ${paths.svg}, ${paths.png}`);
  }
  return d.kind === "alpha" ? EXIT.ok : EXIT.noGain;
}
