/**
 * The one place a file's `resolve` URL is built (byte sources, small-file reads, snapshot
 * downloads). The revision is one path segment, so a branch like `refs/pr/1` is encoded whole,
 * as @huggingface/hub's fileDownloadInfo does; each segment of the file path is encoded so
 * names with spaces, `#` or `?` reach the right file.
 */
export function resolveUrl(params: { hubUrl: string; repo: string; revision?: string; path: string }): string {
  return `${params.hubUrl}/${params.repo}/resolve/${encodeURIComponent(params.revision ?? "main")}/${encodeRepoPath(params.path)}`;
}

/**
 * A repo file path with each segment percent-encoded. @huggingface/hub's fileDownloadInfo
 * pastes `path` into its URL as given, so a name with `#`, `?` or a space would lose its tail;
 * pass it this instead.
 */
export function encodeRepoPath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
