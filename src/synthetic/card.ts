import { stringify } from "yaml";

/** A README.md front matter block from card metadata (empty metadata → no block). */
export function cardFrontMatter(metadata: Record<string, unknown>): string {
  if (Object.keys(metadata).length === 0) return "";
  return `---\n${stringify(metadata)}---\n`;
}
