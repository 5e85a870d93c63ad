/**
 * Publishing a model folder as `<namespace>/<θ1 name>-ExPO` on the Hub.
 *
 * Plan, then execute (`planPublish` reads and decides; `executePublish` writes):
 *
 * 1. read search.json (no α beat α = 0 and none was pinned → nothing to publish);
 * 2. find θ1/θ0 (explicit, else the folder's provenance file, else the report);
 * 3. read both model infos: refuse gated/private sources unless allowed, refuse licences
 *    that forbid derivatives, apply licences' naming rules (PublishRefusedError, with reasons);
 * 4. pick the name: the first candidate that is absent, empty, or already holds a model built
 *    from the same sources (its card's `base_model` is [θ1, θ0], or — for a card without
 *    `base_model` — its provenance file names θ1 and θ0); a repo holding a model built
 *    from other sources is never touched — the deterministic alternate name is used instead;
 * 5. render the card, hash every local file and compare with the remote tree (git oid for
 *    regular files, LFS sha256 for large ones): only changed files are committed, and nothing
 *    is committed when nothing changed (idempotent);
 * 6. create the repo when absent, and commit everything in ONE commit. LFS content goes up
 *    before the commit through the LFS batch API, which skips objects the Hub already has: a
 *    rerun after an interrupted upload does not send those bytes again (resumable).
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { isSyntheticFolder } from "../checkpoint/model-folder.js";
import {
  commitFiles,
  createModelRepo,
  getModelInfo,
  getTokenUser,
  HubNotFoundError,
  listRepoFiles,
  readTextFile,
  resolveUrl,
  type HubClient,
  type HubModelInfo,
} from "../hub/index.js";
import { UserError } from "../util/errors.js";
import { parseCardMetadata, renderModelCard, type ModelCardInput } from "./card.js";
import { readAdapterCardInfo } from "./adapter-card.js";
import type { RefusalReason } from "./comments.js";
import { diffAgainstRemote, hashBytes, hashLocalFile, listModelFolder, type LocalFile, type RemoteFile } from "./files.js";
import { checkAccess, checkLicence, type AccessOptions } from "./licence.js";
import { assertRepoId, outputNames } from "./naming.js";
import { parseProvenance, PROVENANCE_FILES, readProvenance } from "./provenance.js";
import { readSearchReport } from "./report.js";
import { validatePublishFolder } from "./validate-folder.js";
import type { SearchSummary, SourceModel } from "./types.js";

/** Licence files copied from θ1 (matched case-insensitively, with or without an extension). */
export const LICENCE_FILE_RE = /^(LICEN[CS]E|NOTICE|USE_POLICY|COPYING)([-_.][A-Za-z0-9._-]*)?$/i;

/** Refusal before anything is written; `reasons` feed the "refused" comment. */
export class PublishRefusedError extends UserError {
  readonly reasons: RefusalReason[];
  constructor(reasons: RefusalReason[]) {
    // Exit 3: "refused" in the CLI's one exit-code table (src/cli/exit-codes.ts).
    super(`publish refused:\n${reasons.map((r) => `  - ${r.message}`).join("\n")}`, { exitCode: 3 });
    this.name = "PublishRefusedError";
    this.reasons = reasons;
  }
}

export interface PublishParams {
  client: HubClient;
  /** The extrapolated model folder. */
  modelDir: string;
  /** search.json (plots are looked for next to it). */
  reportPath: string;
  /** Output repo (`--repo`); default `<namespace>/<θ1 name>-ExPO`. */
  repo?: string;
  /** Namespace when `repo` is not given; default: the token's user. */
  namespace?: string;
  /** Sources; default: the folder's provenance file, else the report's models. */
  theta1?: SourceModel;
  theta0?: SourceModel;
  access?: AccessOptions;
  /** Link to the run that built the model (in the card). */
  runUrl?: string;
  botVersion?: string;
  /** Render and plan, write nothing. */
  dryRun?: boolean;
  /**
   * Plan from the local files alone, with no request to the Hub (the CLI's --dry-run): the
   * licence, access, the token's namespace and what the repo holds now are not checked (the
   * plan's `unchecked` says so); every file counts as an upload.
   */
  local?: boolean;
  /** Progress lines (human-readable). */
  log?: (line: string) => void;
}

export type OwnerState =
  | { kind: "absent" }
  | { kind: "empty" }
  | { kind: "same-sources"; head: string }
  | { kind: "other-sources"; baseModel: unknown };

export interface PublishPlan {
  repo: string;
  /** Set when the first-choice name was taken by a model from other sources. */
  renamedFrom?: { repo: string; reason: string };
  state: OwnerState;
  theta1: SourceModel;
  theta0: SourceModel;
  search: SearchSummary;
  card: string;
  files: LocalFile[];
  upload: LocalFile[];
  delete: string[];
  unchanged: string[];
  warnings: string[];
  notices: string[];
  /** What a local plan could not check (empty when the Hub was asked). */
  unchecked: string[];
  commitTitle: string;
  commitDescription: string;
}

export interface PublishResult {
  repo: string;
  url: string;
  /** created: new repo; updated: new commit; unchanged: nothing to do; dry-run: nothing written. */
  status: "created" | "updated" | "unchanged" | "dry-run";
  /** The new commit, or null when nothing was committed. */
  commit: string | null;
  commitUrl: string | null;
  uploaded: string[];
  deleted: string[];
  unchanged: string[];
  renamedFrom?: { repo: string; reason: string };
  warnings: string[];
  /** Dry runs without the Hub: what was not checked. */
  unchecked?: string[];
  card: string;
}

function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Whether a card's `base_model` says [θ1, θ0] (the order this bot writes). */
export function isBuiltFrom(baseModel: unknown, theta1: string, theta0: string): boolean {
  return Array.isArray(baseModel) && baseModel.length === 2 && sameId(String(baseModel[0]), theta1) && sameId(String(baseModel[1]), theta0);
}

/** What is at `repo` now, as far as ownership goes. */
export async function inspectTarget(client: HubClient, repo: string, theta1: string, theta0: string): Promise<OwnerState> {
  let files: RemoteFile[];
  try {
    files = await listRepoFiles({ client, repo });
  } catch (err) {
    if (err instanceof HubNotFoundError) return { kind: "absent" };
    throw err;
  }
  const meaningful = files.filter((f) => f.path !== ".gitattributes");
  if (meaningful.length === 0) return { kind: "empty" };
  const readme = files.some((f) => f.path === "README.md") ? await readTextFile({ client, repo, path: "README.md" }) : null;
  const meta = readme ? parseCardMetadata(readme) : null;
  const baseModel = meta?.base_model;
  let same = isBuiltFrom(baseModel, theta1, theta0);
  // A card without base_model (edited by hand, or not ours), or an adapter card (base_model: θ0
  // alone, which many adapters share): the provenance file decides.
  if (!same && (baseModel === undefined || (typeof baseModel === "string" && sameId(baseModel, theta0)))) {
    const name = PROVENANCE_FILES.find((p) => files.some((f) => f.path === p));
    const text = name ? await readTextFile({ client, repo, path: name, maxBytes: 16_000_000 }) : null;
    if (text) {
      try {
        const prov = parseProvenance(JSON.parse(text), `${repo}/${name}`);
        same = Boolean(prov.theta1 && prov.theta0 && sameId(prov.theta1.id, theta1) && sameId(prov.theta0.id, theta0));
      } catch {
        same = false;
      }
    }
  }
  if (same) {
    const info = await getModelInfo({ client, repo });
    return { kind: "same-sources", head: info.sha };
  }
  return { kind: "other-sources", baseModel: baseModel ?? null };
}

async function resolveSources(params: PublishParams, search: SearchSummary): Promise<{ theta1: SourceModel; theta0: SourceModel }> {
  const provenance = await readProvenance(params.modelDir);
  const fromReport = (s?: { path: string; revision: string }): SourceModel | undefined => {
    if (!s) return undefined;
    const [id] = s.path.split("@");
    return id && /^[^/\s]+\/[^/\s]+$/.test(id) && !existsSync(s.path) ? { id, revision: s.revision || "main" } : undefined;
  };
  // The folder's own record wins any disagreement: a card must never credit the wrong parent.
  const disagree = (role: string, flag: string, given?: SourceModel, recorded?: SourceModel) => {
    if (!given || !recorded) return;
    const sameRevision = given.revision === "main" || recorded.revision === "main" || given.revision.startsWith(recorded.revision) || recorded.revision.startsWith(given.revision);
    if (!sameId(given.id, recorded.id) || !sameRevision) {
      throw new UserError(
        `${flag} ${given.id}@${given.revision} disagrees with ${basename(provenance!.file)}, which says the folder was built from ${role} = ${recorded.id}@${recorded.revision}; drop ${flag} (the file supplies it) or publish the folder built from ${given.id}`,
      );
    }
  };
  disagree("θ1", "--theta1", params.theta1, provenance?.theta1);
  disagree("θ0", "--theta0", params.theta0, provenance?.theta0);
  const theta1 = params.theta1 ?? provenance?.theta1 ?? fromReport(search.aligned);
  const theta0 = params.theta0 ?? provenance?.theta0 ?? fromReport(search.sft);
  if (!theta1 || !theta0) {
    const missing = [!theta1 && "θ1", !theta0 && "θ0"].filter(Boolean).join(" and ");
    throw new UserError(
      `--model ${params.modelDir}: cannot tell which Hub models ${missing} ${missing.includes("and") ? "are" : "is"} (no provenance file with Hub ids, and the report names local paths); pass --theta1 OWNER/NAME@REV --theta0 OWNER/NAME@REV`,
    );
  }
  assertRepoId(theta1.id, "θ1");
  assertRepoId(theta0.id, "θ0");
  if (provenance?.alpha !== undefined && search.chosenAlpha !== null && Math.abs(provenance.alpha - search.chosenAlpha) > 1e-9) {
    throw new UserError(
      `--model ${params.modelDir}: ${basename(provenance.file)} says α = ${provenance.alpha} but ${params.reportPath} chose α = ${search.chosenAlpha}; extrapolate again with the chosen α`,
    );
  }
  return { theta1, theta0 };
}

async function sourceInfo(client: HubClient, role: string, model: SourceModel): Promise<HubModelInfo> {
  try {
    return await getModelInfo({ client, repo: model.id, revision: model.revision === "main" ? undefined : model.revision });
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${role} ${model.id}: ${err.message}`, { cause: err, exitCode: err.exitCode });
    throw err;
  }
}

/** Reads, checks and decides; writes nothing. */
export async function planPublish(params: PublishParams): Promise<PublishPlan> {
  const { client } = params;
  const log = params.log ?? (() => undefined);
  const report = await readSearchReport(params.reportPath);
  const search = report.summary;
  if (search.chosenAlpha === null) {
    throw new UserError(`--report ${params.reportPath}: no α beat α = 0 with confidence (decision: no gain); nothing to publish`, { exitCode: 5 });
  }
  await validatePublishFolder(params.modelDir);
  const { theta1, theta0 } = await resolveSources(params, search);
  if (params.local) return planLocally(params, report, theta1, theta0);

  // Access and licence, on the revisions the model was built from.
  const [info1, info0] = await Promise.all([sourceInfo(client, "θ1", theta1), sourceInfo(client, "θ0", theta0)]);
  if (theta1.revision === "main") theta1.revision = info1.sha;
  if (theta0.revision === "main") theta0.revision = info0.sha;
  const reasons: RefusalReason[] = checkAccess(
    [
      { role: "θ1", info: { id: theta1.id, private: info1.private, gated: info1.gated } },
      { role: "θ0", info: { id: theta0.id, private: info0.private, gated: info0.gated } },
    ],
    params.access,
  ).map((message) => ({ level: "error", message }));
  const licenceMeta = { license: info1.license, license_name: info1.licenseName, license_link: info1.licenseLink };
  const licence = checkLicence(licenceMeta, `θ1 ${theta1.id}`);
  reasons.push(...licence.reasons.map((message) => ({ level: "error", message })));
  if (reasons.length > 0) throw new PublishRefusedError(reasons);
  const warnings = [...licence.warnings];

  // The name.
  let namespace = params.namespace;
  if (!params.repo && !namespace) namespace = (await getTokenUser({ client })).name;
  const names = outputNames(namespace ?? "", theta1, theta0, { namePrefix: licence.namePrefix, requested: params.repo });
  let repo = names.primary;
  let renamedFrom: PublishPlan["renamedFrom"];
  let state = await inspectTarget(client, repo, theta1.id, theta0.id);
  if (state.kind === "other-sources" && params.repo) {
    // A name the user chose is used as given or not at all.
    throw new PublishRefusedError([{ level: "error", message: `--repo ${repo} already holds a model built from ${JSON.stringify(state.baseModel)}, not [${theta1.id}, ${theta0.id}]; choose another --repo` }]);
  }
  if (state.kind === "other-sources") {
    const reason = `${repo} already holds a model built from ${JSON.stringify(state.baseModel)}, not [${theta1.id}, ${theta0.id}]`;
    renamedFrom = { repo, reason };
    log(`${reason}; using ${names.alternate}`);
    repo = names.alternate;
    state = await inspectTarget(client, repo, theta1.id, theta0.id);
    if (state.kind === "other-sources") {
      throw new UserError(`${renamedFrom.repo} and ${repo} both hold models built from other sources; pass --repo with a free name`);
    }
    warnings.push(`published as ${repo}: ${reason}`);
  }

  // Local files: the folder, θ1's licence files when the folder lacks them, the plots, the card.
  const local = await folderSources(params, report);
  const licenceFiles = info1.files.filter((p) => !p.includes("/") && LICENCE_FILE_RE.test(p));
  for (const path of licenceFiles) {
    if (local.has(path)) continue;
    const text = await readTextFile({ client, repo: theta1.id, path, revision: theta1.revision, maxBytes: 1_000_000 });
    if (text !== null) local.set(path, { bytes: new TextEncoder().encode(text) });
  }
  const { card, files, adapter } = await renderAndHash(params, report, local, { repoId: repo, theta1, theta0, licenceMeta, notices: licence.notices, hubUrl: client.hubUrl });
  const remote: RemoteFile[] = state.kind === "same-sources" || state.kind === "empty" ? await listRepoFiles({ client, repo }) : [];
  const diff = diffAgainstRemote(files, remote);
  return {
    repo,
    ...(renamedFrom ? { renamedFrom } : {}),
    state,
    theta1,
    theta0,
    search,
    card,
    files,
    upload: diff.upload,
    delete: diff.delete,
    unchanged: diff.unchanged,
    warnings,
    notices: licence.notices,
    unchecked: [],
    ...commitText(search, theta1, theta0, adapter),
  };
}

type LocalSources = Map<string, { localPath?: string; bytes?: Uint8Array }>;

/** The folder's files (its README replaced by the card), plus the plots. */
async function folderSources(params: PublishParams, report: Awaited<ReturnType<typeof readSearchReport>>): Promise<LocalSources> {
  const local: LocalSources = new Map();
  for (const f of await listModelFolder(params.modelDir)) {
    if (f.path === "README.md") continue; // replaced by our card
    local.set(f.path, { localPath: f.localPath });
  }
  for (const [name, file] of report.plotFiles) local.set(name, { localPath: file });
  return local;
}

function commitText(search: SearchSummary, theta1: SourceModel, theta0: SourceModel, adapter: boolean): { commitTitle: string; commitDescription: string } {
  const short = (s: string) => (/^[0-9a-f]{40}$/.test(s) ? s.slice(0, 7) : s);
  return {
    commitTitle: `ExPO α=${search.chosenAlpha} from ${theta1.id}@${short(theta1.revision)} and ${theta0.id}@${short(theta0.revision)}`,
    commitDescription: `${adapter ? "A LoRA adapter: θ2 = θ0 + (1 + α)·s·B·A, lora_alpha × (1 + α)" : "θ2 = θ1 + α·(θ1 − θ0)"} with α = ${search.chosenAlpha} (${search.pinned ? "pinned" : `${search.strategy} search`}).\n\nθ1: ${theta1.id}@${theta1.revision}\nθ0: ${theta0.id}@${theta0.revision}\n\nPublished by ExPO Bot.`,
  };
}

async function renderAndHash(
  params: PublishParams,
  report: Awaited<ReturnType<typeof readSearchReport>>,
  local: LocalSources,
  o: { repoId: string; theta1: SourceModel; theta0: SourceModel; licenceMeta: ModelCardInput["licence"]; notices: string[]; hubUrl: string },
): Promise<{ card: string; files: LocalFile[]; adapter: boolean }> {
  for (const [name, file] of report.plotFiles) local.set(name, { localPath: file });
  const cardInput: ModelCardInput = {
    repoId: o.repoId,
    theta1: o.theta1,
    theta0: o.theta0,
    search: report.summary,
    licence: o.licenceMeta,
    licenceFiles: [...local.keys()].filter((p) => !p.includes("/") && LICENCE_FILE_RE.test(p)).sort(),
    notices: (await isSyntheticFolder(params.modelDir)) ? [SYNTHETIC_NOTICE, ...o.notices] : o.notices,
    hubUrl: o.hubUrl,
  };
  const adapter = await readAdapterCardInfo(params.modelDir);
  if (adapter) cardInput.adapter = adapter;
  if (params.runUrl) cardInput.runUrl = params.runUrl;
  if (params.botVersion) cardInput.botVersion = params.botVersion;
  const card = renderModelCard(cardInput);

  const files: LocalFile[] = [hashBytes("README.md", new TextEncoder().encode(card))];
  for (const [path, src] of [...local.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    files.push(src.localPath ? await hashLocalFile(path, src.localPath) : hashBytes(path, src.bytes!));
  }
  return { card, files, adapter: adapter !== null && adapter !== undefined };
}

/** The plan without the Hub (see PublishParams.local). */
async function planLocally(params: PublishParams, report: Awaited<ReturnType<typeof readSearchReport>>, theta1: SourceModel, theta0: SourceModel): Promise<PublishPlan> {
  const search = report.summary;
  const unchecked = [`θ1's licence and its naming rules, and access to ${theta1.id} and ${theta0.id}`, "whether the output repo already exists or holds another model"];
  let repo: string;
  if (params.repo) repo = outputNames("", theta1, theta0, { requested: params.repo }).primary;
  else if (params.namespace) repo = outputNames(params.namespace, theta1, theta0).primary;
  else {
    repo = outputNames("YOUR-NAMESPACE", theta1, theta0).primary;
    unchecked.push("the namespace (the token's user; pass --namespace or --repo)");
  }
  const local = await folderSources(params, report);
  const { card, files, adapter } = await renderAndHash(params, report, local, { repoId: repo, theta1, theta0, licenceMeta: {}, notices: [], hubUrl: params.client.hubUrl });
  return {
    repo,
    state: { kind: "absent" },
    theta1,
    theta0,
    search,
    card,
    files,
    upload: files,
    delete: [],
    unchanged: [],
    warnings: [],
    notices: [],
    unchecked,
    ...commitText(search, theta1, theta0, adapter),
  };
}

/** Creates the repo if needed and commits the plan's changes in one commit (none when nothing changed). */
export async function executePublish(client: HubClient, plan: PublishPlan, log: (line: string) => void = () => undefined): Promise<PublishResult> {
  const url = `${client.hubUrl}/${plan.repo}`;
  const base = {
    repo: plan.repo,
    url,
    unchanged: plan.unchanged,
    warnings: plan.warnings,
    card: plan.card,
    ...(plan.renamedFrom ? { renamedFrom: plan.renamedFrom } : {}),
  };
  if (plan.upload.length === 0 && plan.delete.length === 0) {
    log(`${plan.repo}: all ${plan.unchanged.length} files already up to date; nothing to commit`);
    return { ...base, status: "unchanged", commit: null, commitUrl: null, uploaded: [], deleted: [] };
  }
  let created = false;
  if (plan.state.kind === "absent") {
    created = (await createModelRepo({ client, repo: plan.repo, existOk: true })).created;
    log(`${plan.repo}: ${created ? "created" : "already existed"}`);
  }
  log(`${plan.repo}: committing ${plan.upload.length} file(s)${plan.delete.length ? `, deleting ${plan.delete.length}` : ""} (${plan.unchanged.length} unchanged)`);
  const out = await commitFiles({
    client,
    repo: plan.repo,
    title: plan.commitTitle,
    description: plan.commitDescription,
    files: plan.upload.map((f) => ({ path: f.path, content: "localPath" in f.source ? { localPath: f.source.localPath } : { bytes: f.source.bytes } })),
    deletes: plan.delete,
    ...(plan.state.kind === "same-sources" ? { parentCommit: plan.state.head } : {}),
  });
  return {
    ...base,
    status: created || plan.state.kind === "absent" || plan.state.kind === "empty" ? "created" : "updated",
    commit: out.commitOid,
    commitUrl: out.commitUrl,
    uploaded: plan.upload.map((f) => f.path),
    deleted: plan.delete,
  };
}

/** Plans and (unless `dryRun`) executes. See the module comment. */
export async function publishModel(params: PublishParams): Promise<PublishResult> {
  const plan = await planPublish(params);
  if (params.dryRun) {
    return {
      repo: plan.repo,
      url: `${params.client.hubUrl}/${plan.repo}`,
      status: "dry-run",
      commit: null,
      commitUrl: null,
      uploaded: plan.upload.map((f) => f.path),
      deleted: plan.delete,
      unchanged: plan.unchanged,
      warnings: plan.warnings,
      unchecked: plan.unchecked,
      card: plan.card,
      ...(plan.renamedFrom ? { renamedFrom: plan.renamedFrom } : {}),
    };
  }
  return executePublish(params.client, plan, params.log);
}

/** The plot's absolute URL in a published repo (for the result comment), if it has one. */
export function plotUrl(hubUrl: string, repo: string, search: SearchSummary, revision = "main"): string | undefined {
  const name = search.plots.png ?? search.plots.svg;
  return name ? resolveUrl({ hubUrl: hubUrl.replace(/\/+$/, ""), repo, revision, path: name }) : undefined;
}

export const SYNTHETIC_NOTICE = "SYNTHETIC: these weights come from tiny models generated by expo-bot for tests and demos. This is not a real language model.";

