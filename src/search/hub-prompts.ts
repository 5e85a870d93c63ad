/** The paper's prompt set from the Hub (HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE honoured), read by HTTP range requests. */
import { UserError } from "../util/errors.js";
import { asyncBufferFromByteSource, findUltraFeedbackFile, ULTRAFEEDBACK, ultraFeedbackPrompts } from "./prompts.js";
import type { Prompt } from "./types.js";

export async function hubPrompts(options: { hubUrl?: string } = {}): Promise<Prompt[]> {
  const { createHubClient, listRepoFiles, HubByteSource } = await import("../hub/index.js");
  const client = createHubClient({ token: process.env.HF_TOKEN?.trim() || undefined, hubUrl: options.hubUrl || process.env.HF_ENDPOINT || undefined });
  const repo = `datasets/${ULTRAFEEDBACK.repo}`;
  const files = await listRepoFiles({ client, repo });
  const path = findUltraFeedbackFile(files.map((f) => f.path));
  const entry = files.find((f) => f.path === path);
  if (!path || !entry) throw new UserError(`${ULTRAFEEDBACK.repo}: no ${ULTRAFEEDBACK.split} parquet file found (files: ${files.map((f) => f.path).join(", ")})`);
  const source = new HubByteSource({ client, repo, path, size: entry.size });
  try {
    return await ultraFeedbackPrompts(asyncBufferFromByteSource(source, entry.size));
  } finally {
    await source.close();
  }
}
