/**
 * The one place a file's `resolve` URL is built (byte sources, small-file reads, snapshot
 * downloads). The revision is one path segment, so a branch like `refs/pr/1` is encoded whole,
 * as @huggingface/hub's fileDownloadInfo does; each segment of the file path is encoded so
 * names with spaces, `#` or `?` reach the right file.
 */
export function resolveUrl(params: { hubUrl: string; repo: string; revision?: string; path: string }): string {
  const path = params.path.split("/").map(encodeURIComponent).join("/");
  return `${params.hubUrl}/${params.repo}/resolve/${encodeURIComponent(params.revision ?? "main")}/${path}`;
}
