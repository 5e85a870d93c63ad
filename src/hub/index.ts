/**
 * The Hub layer: the only place ExPO Bot talks to the Hugging Face Hub. Every operation
 * takes one params object with a `client` from `createHubClient({ token, hubUrl, fetch,
 * retry, sleep, useXet })`, and throws the typed errors of errors.ts. See docs/hub.md.
 */
export { createHubClient, rateLimitDelayMs, isHubOffline } from "./client.js";
export type { HubClient, HubClientOptions, RetryOptions, RetryEvent, HubStats, HubErrorHeaders } from "./client.js";
export { resolveUrl } from "./resolve-url.js";
export * from "./errors.js";
export { parseRepoRef, looksLikeRepoRef, formatRepoRef, type RepoRef } from "./repo-ref.js";
export { getModelInfo, type HubModelInfo } from "./model-info.js";
export { listRepoFiles, type HubFileEntry } from "./list-files.js";
export { readTextFile, readRequiredTextFile, readJsonFile, type ReadFileParams } from "./read-file.js";
export { HubByteSource, type HubByteSourceParams } from "./byte-source.js";
export { safetensorsMetadata, openHubSafetensors, openHubCheckpoint, type HubCheckpoint, type OpenHubSafetensorsParams } from "./safetensors.js";
export { snapshotDownload, SNAPSHOT_MANIFEST, type SnapshotDownloadParams, type SnapshotDownloadResult } from "./snapshot-download.js";
export { createModelRepo, type CreateModelRepoResult } from "./create-repo.js";
export { commitFiles, type CommitFile, type CommitFileContent, type CommitFilesParams, type CommitFilesResult } from "./commit.js";
export { listModelsByTag, type ListedModel } from "./list-models.js";
export { getTokenUser } from "./who-am-i.js";
export type { DiscussionSummary, DiscussionComment } from "./discussion-types.js";
export { listDiscussions } from "./list-discussions.js";
export { createDiscussion } from "./create-discussion.js";
export { commentDiscussion, getDiscussion } from "./comment-discussion.js";
export { findDiscussion, postToThread } from "./find-discussion.js";
export { hubFileAccess, type HubFileAccess } from "./file-access.js";
export { cachedModel, modelCacheDir, hfHubCacheDir, hfHome, type CachedModel, type CachedModelParams } from "./model-cache.js";
