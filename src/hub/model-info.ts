/** Model metadata: card data, tags, commit sha, gated/private flags, licence and file list. */
import { modelInfo } from "@huggingface/hub";
import type { HubClient } from "./client.js";
import { toHubError } from "./errors.js";

export interface HubModelInfo {
  /** `owner/name`. */
  repo: string;
  /** The commit the revision resolved to. */
  sha: string;
  private: boolean;
  gated: false | "auto" | "manual";
  tags: string[];
  /** The card's YAML metadata (README.md front matter), as the Hub parsed it. */
  cardData: Record<string, unknown> | undefined;
  /** `license` from the card, else from a `license:` tag. */
  license: string | undefined;
  licenseName: string | undefined;
  licenseLink: string | undefined;
  /** `base_model` from the card, always as a list (empty when absent). */
  baseModels: string[];
  pipelineTag: string | undefined;
  libraryName: string | undefined;
  /** Every file path at that revision. */
  files: string[];
  /** Parameter counts by dtype, when the Hub computed them. */
  safetensors: { parameters: Record<string, number>; total: number } | undefined;
  /** `architectures` / `model_type` of config.json as the Hub summarises it. */
  config: Record<string, unknown> | undefined;
  lastModified: Date;
}

/**
 * Fetches a model's metadata at `revision` (default: the main branch) in one request.
 * Throws HubNotFoundError (missing or invisible), HubAuthError, HubRateLimitError…
 */
export async function getModelInfo(params: { client: HubClient; repo: string; revision?: string }): Promise<HubModelInfo> {
  const { client, repo, revision } = params;
  try {
    const info = await modelInfo({
      ...client.credentials(),
      name: repo,
      revision,
      additionalFields: ["cardData", "tags", "sha", "filePaths", "safetensors", "library_name", "config"],
    });
    const card = (info.cardData ?? undefined) as Record<string, unknown> | undefined;
    const tags = (info.tags ?? []) as string[];
    const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    const baseModel = card?.base_model;
    return {
      repo: info.name,
      sha: info.sha,
      private: info.private,
      gated: info.gated,
      tags,
      cardData: card,
      license: str(card?.license) ?? tags.find((t) => t.startsWith("license:"))?.slice("license:".length),
      licenseName: str(card?.license_name),
      licenseLink: str(card?.license_link),
      baseModels: Array.isArray(baseModel) ? baseModel.filter((b): b is string => typeof b === "string") : typeof baseModel === "string" ? [baseModel] : [],
      pipelineTag: info.task,
      libraryName: str(info.library_name),
      files: info.filePaths ?? [],
      safetensors: info.safetensors,
      config: (info.config ?? undefined) as Record<string, unknown> | undefined,
      lastModified: info.updatedAt,
    };
  } catch (err) {
    throw toHubError(err, { op: "model info", repo, revision }, client.errorHeaders);
  }
}
