/**
 * Escaping for text that lands in Markdown rendered by the Hub and by GitHub (both render
 * inline HTML, autolink URLs, and GitHub resolves `@mentions` and `#refs`).
 *
 * There is ONE escaping function for user-controlled strings, `escapeMarkdown`; templates
 * reach it as the Handlebars helper `{{md x}}`. It makes any string inert as inline text
 * in a paragraph, a list item, a heading, a link text or a GFM table cell:
 *
 * - HTML: `& < > "` become entities, so no tag, attribute or comment can open (with `<`
 *   escaped no attribute exists for a `'` to close, so apostrophes stay readable: "θ1's",
 *   not "θ1&#39;s", in the Markdown people read raw);
 * - Markdown: the punctuation that opens or closes an inline construct (code spans,
 *   emphasis, strikethrough, links, images, math) is backslash-escaped, pipes included so
 *   a table cell cannot be split, and so is a leading `#`, `-`, `+`, `=` or `1.`;
 * - line structure: CR/LF and other control characters become spaces, so a name cannot
 *   start a new block (a heading, a fence, a front-matter `---`);
 * - pings: `@name` gets a zero-width space after `@`, and `#123` / `GH-123` after `#`, so
 *   nobody is notified and no issue is cross-referenced by a model name;
 * - bare URLs: `://` is broken with a zero-width space so no link is auto-created;
 * - secrets: anything that looks like a token is replaced (see `scrubSecrets`).
 */

const ZWSP = "&#8203;";

// Token shapes and known secret values: one implementation for logs, comments and artifacts.
export { scrubSecrets } from "../util/redact.js";
import { scrubSecrets } from "../util/redact.js";

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
};

// Punctuation that opens or closes an inline construct anywhere in a line: code spans,
// emphasis, strikethrough, links/images, table cells, math (GitHub renders `$…$`).
// `&<>"` are handled as HTML entities instead (above).
const INLINE_SPECIALS = /[\\`*_\[\]|~$]/g;
// Punctuation that starts a block only at the beginning of a line (headings, lists, block
// quotes, setext underlines, thematic breaks, ordered lists such as `1.` / `1)`).
const LEADING_SPECIAL = /^([#+\-=])|^(\d{1,9})([.)])(?=\s|$)/;

/**
 * Escapes a user-controlled string for Markdown AND HTML as inline text (see the module
 * comment). `null`/`undefined` render as the empty string; other values are stringified.
 */
export function escapeMarkdown(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = scrubSecrets(String(value));
  // One line: control characters (newlines, tabs, NUL, bidi overrides) become spaces, and
  // leading/trailing blanks go (four leading spaces would open an indented code block).
  text = text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, " ").trim();
  text = text.replace(INLINE_SPECIALS, (c) => `\\${c}`);
  text = text.replace(LEADING_SPECIAL, (_m, mark?: string, digits?: string, dot?: string) =>
    mark ? `\\${mark}` : `${digits}\\${dot}`,
  );
  // Zero-width breaks go in as a placeholder (NUL, removed above) so that the `#` of the
  // entities written below is never mistaken for a reference.
  const Z = "\u0000";
  // Mentions (`@user`, `user@example.com` autolinks) and references (`#12`, `GH-12`).
  text = text.replace(/@/g, `@${Z}`);
  text = text.replace(/#(?=\d)/g, `#${Z}`);
  text = text.replace(/\b(GH)-(?=\d)/gi, `$1-${Z}`);
  // Autolinks: GFM links bare `http(s)://…` and `www.…` whatever escapes precede them.
  text = text.replace(/:\/\//g, `:${Z}//`);
  text = text.replace(/\b(www)\./gi, `$1${Z}.`);
  text = text.replace(/[&<>"]/g, (c) => HTML_ENTITIES[c]!);
  return text.replace(/\u0000/g, ZWSP);
}

/**
 * A fenced code block whose fence cannot be closed by the content (it is one backtick
 * longer than the longest run of backticks inside). Content is scrubbed of secrets; inside
 * a fence neither Markdown nor HTML is interpreted, so no other escaping is needed.
 */
export function codeBlock(value: unknown, language = ""): string {
  const text = scrubSecrets(String(value ?? "")).replace(/\r\n?/g, "\n");
  const longest = Math.max(0, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  const lang = /^[A-Za-z0-9_+-]*$/.test(language) ? language : "";
  return `${fence}${lang}\n${text.replace(/\n+$/, "")}\n${fence}`;
}

/**
 * A URL that is safe in `[text](url)` and `<img src>`: only http(s), and the characters
 * that could end the link destination or an attribute are percent-encoded. Anything else
 * (javascript:, data:, relative paths with schemes…) becomes `#`.
 */
export function safeUrl(value: unknown): string {
  const text = String(value ?? "").trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "#";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "#";
  if (url.username || url.password) return "#";
  return url.href.replace(/[()<>"' `\\|]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

/**
 * A relative path inside the published repository (a plot, a licence file), safe as a link
 * destination: each segment is percent-encoded.
 */
export function safeRelativePath(value: unknown): string {
  return String(value ?? "")
    .split("/")
    .filter((s) => s !== "" && s !== "." && s !== "..")
    .map((s) => encodeURIComponent(s).replace(/[()'!*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join("/");
}
