/**
 * The model card (README.md) of a published `-ExPO` repository: YAML metadata emitted with
 * the `yaml` library, and a body rendered from `templates/model-card.md.hbs`.
 */
import YAML from "yaml";
import { UserError } from "../util/errors.js";
import { assertRepoId } from "./naming.js";
import { renderTemplate } from "./templates.js";
import { reportedGainView, rowExtras, sanityView } from "./gain-view.js";
import { adapterCardMetadata, adapterSectionMd, peftUsageSnippet, type AdapterCardInfo } from "./adapter-card.js";
import type { AlphaRow, LicenceMetadata, SearchSummary, SourceModel } from "./types.js";

export const PAPER_URL = "https://arxiv.org/abs/2404.16792";
export const CITATION_BIBTEX = `@article{zheng2024weak,
  title   = {Weak-to-Strong Extrapolation Expedites Alignment},
  author  = {Zheng, Chujie and Wang, Ziqi and Ji, Heng and Huang, Minlie and Peng, Nanyun},
  journal = {arXiv preprint arXiv:2404.16792},
  year    = {2024}
}`;

export interface ModelCardInput {
  /** The output repo, `owner/name`. */
  repoId: string;
  /** The aligned model (DPO/RLHF). */
  theta1: SourceModel;
  /** Its SFT parent. */
  theta0: SourceModel;
  search: SearchSummary;
  /** Licence metadata copied from θ1's card. */
  licence: LicenceMetadata;
  /** Licence files copied from θ1 into the output (LICENSE, NOTICE, USE_POLICY.md…). */
  licenceFiles?: string[];
  /** Notices required by θ1's licence (LicenceVerdict.notices). Trusted text, still escaped. */
  notices?: string[];
  /** Plot file in the output repo to show (defaults to the report's PNG, else SVG). */
  plotFile?: string;
  /** Hub base URL for links to the sources (default https://huggingface.co). */
  hubUrl?: string;
  libraryName?: string;
  pipelineTag?: string;
  /** Extra tags (after `expo`, `merge`, `expo-bot`). */
  tags?: string[];
  /** The GitHub Actions run (or other log) that built the model. */
  runUrl?: string;
  botVersion?: string;
  /** Set when the output is a PEFT LoRA adapter (θ1 was one): adapter metadata, section and usage. */
  adapter?: AdapterCardInfo;
}

function hubBase(input: ModelCardInput): string {
  return (input.hubUrl ?? "https://huggingface.co").replace(/\/+$/, "");
}

/** The card's YAML metadata, in the order the Hub shows it. */
export function modelCardMetadata(input: ModelCardInput): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (input.licence.license) meta.license = input.licence.license;
  if (input.licence.license_name) meta.license_name = input.licence.license_name;
  if (input.licence.license_link) meta.license_link = input.licence.license_link;
  const adapter = input.adapter ? adapterCardMetadata(input.theta0.id, input.tags ?? []) : null;
  meta.base_model = adapter ? adapter.base_model : [input.theta1.id, input.theta0.id];
  meta.base_model_relation = adapter ? adapter.base_model_relation : "merge";
  meta.library_name = adapter ? adapter.library_name : (input.libraryName ?? "transformers");
  meta.pipeline_tag = input.pipelineTag ?? "text-generation";
  const tags = adapter ? (adapter.tags as string[]) : ["expo", "merge", "expo-bot", ...(input.tags ?? [])];
  meta.tags = [...new Set(tags.map((t) => String(t).trim()).filter((t) => t.length > 0 && t.length <= 100))];
  return meta;
}

/** `---\n<yaml>---\n` — the YAML library quotes every value that needs it. */
export function frontMatter(meta: Record<string, unknown>): string {
  return `---\n${YAML.stringify(meta, { lineWidth: 0 })}---\n`;
}

function sortedRows(rows: AlphaRow[]): AlphaRow[] {
  return [...rows].sort((a, b) => a.alpha - b.alpha);
}

function validate(input: ModelCardInput): void {
  assertRepoId(input.repoId, "repo");
  assertRepoId(input.theta1.id, "θ1");
  assertRepoId(input.theta0.id, "θ0");
  if (input.search.rows.length === 0) throw new UserError("search report: no α rows to put in the card (field rows)");
}

/** The card body's view model: every string still raw; the template escapes. */
export function modelCardView(input: ModelCardInput) {
  const hub = hubBase(input);
  const { search } = input;
  const rows = sortedRows(search.rows).map((r) => ({
    ...r,
    isBaseline: r.alpha === 0,
    isChosen: search.chosenAlpha !== null && r.alpha === search.chosenAlpha,
    hasDeltaCi: r.deltaCi !== undefined,
    deltaLow: r.deltaCi?.[0] ?? null,
    deltaHigh: r.deltaCi?.[1] ?? null,
    ...rowExtras(r),
  }));
  const chosen = rows.find((r) => r.isChosen) ?? null;
  const plotFile = input.plotFile ?? search.plots.png ?? search.plots.svg ?? null;
  const nPrompts = Math.max(0, ...search.rows.map((r) => r.n ?? 0)) || null;
  return {
    repoId: input.repoId,
    repoName: input.repoId.split("/")[1],
    modelUrl: `${hub}/${input.repoId}`,
    theta1: { ...input.theta1, url: `${hub}/${input.theta1.id}`, treeUrl: `${hub}/${input.theta1.id}/tree/${encodeURIComponent(input.theta1.revision)}` },
    theta0: { ...input.theta0, url: `${hub}/${input.theta0.id}`, treeUrl: `${hub}/${input.theta0.id}/tree/${encodeURIComponent(input.theta0.revision)}` },
    paperUrl: PAPER_URL,
    alpha: search.chosenAlpha,
    pinned: search.pinned,
    strategy: search.strategy,
    reason: search.reason ?? null,
    // The decision's interval and the table's CI of the chosen row describe the same difference
    // at two levels; the card says which is which when they differ.
    decisionAdjusted: (search.decisionStatistics?.comparisons ?? 1) > 1,
    comparisons: search.decisionStatistics?.comparisons ?? null,
    rewardModel: search.rewardModel ?? null,
    rewardModelUrl: rewardModelUrl(hub, search.rewardModel),
    prompts: promptsLabel(search.prompts),
    nPrompts,
    nAlphas: search.rows.length,
    nDropped: search.rows.filter((r) => r.dropped).length,
    selectionPrompts: search.selectionPrompts ?? nPrompts,
    heldOutPrompts: search.heldOutPrompts ?? 0,
    reported: reportedGainView(search.reported),
    sanity: sanityView(search.sanity),
    searchNotes: search.notes ?? [],
    maxTokens: search.maxNewTokens ?? null,
    anyTruncated: search.rows.some((r) => typeof r.truncated === "number"),
    confidencePct: Math.round(search.confidence * 100),
    lengthUnit: search.lengthUnit,
    chosen,
    rows,
    plotFile,
    licence: {
      license: input.licence.license ?? null,
      name: input.licence.license_name ?? null,
      link: input.licence.license_link ?? null,
      linkIsUrl: /^https?:\/\//i.test(input.licence.license_link ?? ""),
    },
    licenceFiles: input.licenceFiles ?? [],
    notices: input.notices ?? [],
    usageMd: input.adapter ? peftUsageSnippet(input.repoId, input.theta0.id, input.adapter) : usageSnippet(input.repoId),
    adapterMd: input.adapter ? adapterSectionMd(input.adapter, { id: input.theta0.id, url: `${hub}/${input.theta0.id}` }) : "",
    reproduceMd: reproduceSnippet(input),
    citationMd: "```bibtex\n" + CITATION_BIBTEX + "\n```",
    runUrl: input.runUrl ?? null,
    botVersion: input.botVersion ?? null,
  };
}

function rewardModelUrl(hub: string, rewardModel: string | undefined): string | null {
  if (!rewardModel) return null;
  if (/^https?:\/\//i.test(rewardModel)) return rewardModel;
  const id = rewardModel.split("@")[0]!;
  return /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) ? `${hub}/${id}` : null;
}

/**
 * A transformers snippet. The repo id was validated by `assertRepoId` (letters, digits,
 * `._-/` only), so it is safe inside a Python string and a code fence.
 */
function usageSnippet(repoId: string): string {
  return [
    "```python",
    "from transformers import AutoModelForCausalLM, AutoTokenizer",
    "",
    `model_id = ${JSON.stringify(repoId)}`,
    "tokenizer = AutoTokenizer.from_pretrained(model_id)",
    'model = AutoModelForCausalLM.from_pretrained(model_id, torch_dtype="auto", device_map="auto")',
    "",
    'messages = [{"role": "user", "content": "Explain model extrapolation in one paragraph."}]',
    "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\").to(model.device)",
    "outputs = model.generate(inputs, max_new_tokens=256)",
    "print(tokenizer.decode(outputs[0][inputs.shape[-1]:], skip_special_tokens=True))",
    "```",
  ].join("\n");
}

/**
 * The commands that rebuild this model: download both sources at the recorded revisions,
 * search α (unless pinned), extrapolate, publish. Ids and revisions were validated, α and
 * the search's numbers are numbers, the strategy is one of the known names.
 */
function reproduceSnippet(input: ModelCardInput): string {
  const safeRev = (r: string) => (/^[A-Za-z0-9._\/-]+$/.test(r) ? r : "main");
  const { theta1, theta0, search } = input;
  const alpha = search.chosenAlpha;
  const lines = [
    "```sh",
    "# both sources at the revisions used (pip install -U huggingface_hub)",
    `hf download ${theta1.id} --revision ${safeRev(theta1.revision)} --local-dir ./theta1`,
    `hf download ${theta0.id} --revision ${safeRev(theta0.revision)} --local-dir ./theta0`,
  ];
  if (!search.pinned) {
    const opts: string[] = [];
    const notes: string[] = [];
    if (search.strategy === "grid" || search.strategy === "auto") opts.push(`--strategy ${search.strategy}`);
    if (search.strategy === "grid") {
      const alphas = search.rows.map((r) => r.alpha).filter((a) => a > 0 && Number.isFinite(a));
      if (alphas.length) opts.push(`--alphas ${alphas.join(",")}`);
    }
    opts.push(...promptOptions(search, notes));
    if (search.promptCount !== undefined && Number.isInteger(search.promptCount)) opts.push(`--n-prompts ${search.promptCount}`);
    if (search.promptSeed !== undefined && Number.isInteger(search.promptSeed)) opts.push(`--seed ${search.promptSeed}`);
    if (search.maxNewTokens !== undefined && Number.isInteger(search.maxNewTokens)) opts.push(`--max-new-tokens ${search.maxNewTokens}`);
    opts.push(...scorerOptions(search.rewardModel, notes));
    if (search.generator?.startsWith("openai:")) notes.push("answers came from an OpenAI-compatible server: add --generator openai --endpoint URL or --launch CMD");
    lines.push("# the α search: answers to held-out prompts at each α, scored by a reward model", ...notes.map((n) => `# ${n}`));
    lines.push(`npx expo-bot search --sft ./theta0 --aligned ./theta1 ${opts.join(" ")} --out ./search`);
  }
  lines.push(
    "# θ2 = θ1 + α·(θ1 − θ0), streamed tensor by tensor",
    `npx expo-bot extrapolate --sft ./theta0 --aligned ./theta1 --alpha ${alpha ?? "ALPHA"} --out ./model`,
    `npx expo-bot publish --model ./model --report ./search/search.json --theta1 ${theta1.id}@${safeRev(theta1.revision)} --theta0 ${theta0.id}@${safeRev(theta0.revision)} --repo ${input.repoId}`,
    "```",
  );
  return lines.join("\n");
}

const ULTRAFEEDBACK_SOURCE = /^HuggingFaceH4\/ultrafeedback_binarized(:|$)/;

/**
 * A local prompt file by its base name only: the full path is the runner's work folder, which
 * differs between runs (a re-run would publish a new card) and shows the runner's layout.
 */
function promptFileName(source: string): string {
  const base = source.split(/[\\/]/).pop() ?? "";
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(base) ? base : "prompts.jsonl";
}

/** The prompt set as the card names it: a dataset id as recorded, a local file (search.json records it resolved) by its base name. */
function promptsLabel(source: string | undefined): string | null {
  if (!source) return null;
  const isPath = /^([\\/]|[A-Za-z]:[\\/]|\.{1,2}[\\/])/.test(source) || /\.(jsonl?|csv|txt|parquet)$/i.test(source);
  return isPath ? promptFileName(source) : source;
}

/** `--prompts`: the Hub's paper set, or the file the run read (by its base name). */
function promptOptions(search: SearchSummary, notes: string[]): string[] {
  const source = search.prompts;
  if (!source || ULTRAFEEDBACK_SOURCE.test(source)) return ["--prompts hub"];
  const name = promptFileName(source);
  notes.push(`--prompts: the run's own prompt file (${name}); the prompt ids it used are in search.json`);
  return [`--prompts ./${name}`];
}

/** The scorer flags: the reward model's Hub id (at its commit) or HTTP endpoint, as search.json recorded it. */
function scorerOptions(rewardModel: string | undefined, notes: string[]): string[] {
  if (!rewardModel) return ["--reward-model REWARD_MODEL"];
  const http = /^http:(json|vllm-pooling):(https?:\/\/[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+)$/.exec(rewardModel);
  if (http) return ["--scorer http", `--scorer-format ${http[1]}`, `--scorer-endpoint '${http[2]!.replace(/'/g, "")}'`];
  const hub = /^([A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*)(@[A-Za-z0-9._-]+)?$/.exec(rewardModel);
  if (hub) return [`--reward-model ${hub[1]}${hub[2] ?? ""}`];
  notes.push("--reward-model: the run used a local reward model folder, not a Hub id");
  return ["--reward-model ./reward-model"];
}

/** The full README.md: YAML front matter + body. */
export function renderModelCard(input: ModelCardInput): string {
  validate(input);
  return `${frontMatter(modelCardMetadata(input))}\n${renderTemplate("model-card", modelCardView(input))}`;
}

/** Parses the YAML front matter of a README.md (null when there is none or it is not a mapping). */
export function parseCardMetadata(readme: string): Record<string, unknown> | null {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\s*(?:\r?\n|$)/.exec(readme.replace(/^\uFEFF/, ""));
  if (!match) return null;
  try {
    const value = YAML.parse(match[1]!);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
