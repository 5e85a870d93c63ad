/**
 * The Handlebars environment for the card and the comments: an isolated instance (no global
 * helpers leak in or out) with the escaping helpers and a few number formatters.
 *
 * Template rules (enforced by templates.spec.ts):
 * - user-controlled strings go through `{{md x}}` (escapeMarkdown: Markdown AND HTML);
 * - links through `{{link text url}}` (or `[{{md t}}]({{url u}})` for fixed text), URLs through `{{url x}}`, repo-relative paths through `{{path x}}`, code blocks through
 *   `{{code x "lang"}}`;
 * - a bare `{{x}}` is not allowed (Handlebars' own escaping is HTML-only);
 * - triple-stash `{{{x}}}` only for values whose name ends in `Md` (built by our TypeScript
 *   from escaped parts) — never for raw input.
 */
import Handlebars from "handlebars";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { codeBlock, escapeMarkdown, safeRelativePath, safeUrl } from "./escape.js";

/** Top-level `templates/` (two levels up from src/publish or dist/publish). */
export const TEMPLATES_DIR = fileURLToPath(new URL("../../templates/", import.meta.url));

export const TEMPLATE_NAMES = [
  "model-card",
  "model-card-adapter",
  "comment-received",
  "comment-refused",
  "comment-result",
  "comment-failed",
] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** `1.2345` → `1.235` (digits default 3); non-numbers → `—`. */
export function formatNumber(value: unknown, digits = 3): string {
  const n = finite(value);
  if (n === undefined) return "—";
  const text = n.toFixed(digits);
  return /^-0?\.?0*$/.test(text) ? text.slice(1) : text.replace(/^-/, "−");
}

/** Signed: `+0.120`, `−0.050` (a real minus sign), `±0.000` for zero. */
export function formatSigned(value: unknown, digits = 3): string {
  const n = finite(value);
  if (n === undefined) return "—";
  const text = Math.abs(n).toFixed(digits);
  if (Number(text) === 0) return `±${text}`;
  return n > 0 ? `+${text}` : `−${text}`;
}

/** `0.575` → `57.5%`. */
export function formatPercent(value: unknown, digits = 1): string {
  const n = finite(value);
  return n === undefined ? "—" : `${(n * 100).toFixed(digits)}%`;
}

/** α without trailing zeros: `0.3`, `2.5`, `0`. */
export function formatAlpha(value: unknown): string {
  const n = finite(value);
  return n === undefined ? "—" : String(Number(n.toFixed(4)));
}

function options(args: unknown[]): { hash: Record<string, unknown> } {
  return args[args.length - 1] as { hash: Record<string, unknown> };
}

function digitsArg(args: unknown[], fallback: number): number {
  const d = args.length > 1 ? args[0] : undefined;
  return typeof d === "number" ? d : fallback;
}

export function createEnvironment(): typeof Handlebars {
  const hb = Handlebars.create();
  const safe = (s: string) => new hb.SafeString(s);
  hb.registerHelper("md", (value: unknown) => safe(escapeMarkdown(value)));
  hb.registerHelper("url", (value: unknown) => safe(safeUrl(value)));
  hb.registerHelper("path", (value: unknown) => safe(safeRelativePath(value)));
  // `{{link text url}}`: `[text](url)` with both escaped; just the text when the URL is
  // missing or unsafe (javascript:, data:…).
  hb.registerHelper("link", (text: unknown, url: unknown) => {
    const href = url === null || url === undefined ? "#" : safeUrl(url);
    return safe(href === "#" ? escapeMarkdown(text) : `[${escapeMarkdown(text)}](${href})`);
  });
  hb.registerHelper("code", (value: unknown, ...rest: unknown[]) => {
    const lang = rest.length > 1 && typeof rest[0] === "string" ? rest[0] : "";
    return safe(codeBlock(value, lang));
  });
  hb.registerHelper("num", (value: unknown, ...rest: unknown[]) => safe(formatNumber(value, digitsArg(rest, 3))));
  hb.registerHelper("signed", (value: unknown, ...rest: unknown[]) => safe(formatSigned(value, digitsArg(rest, 3))));
  hb.registerHelper("pct", (value: unknown, ...rest: unknown[]) => safe(formatPercent(value, digitsArg(rest, 1))));
  hb.registerHelper("alpha", (value: unknown) => safe(formatAlpha(value)));
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  hb.registerHelper("len", (value: unknown) => (Array.isArray(value) ? value.length : 0));
  void options;
  return hb;
}

const env = createEnvironment();
const cache = new Map<TemplateName, Handlebars.TemplateDelegate>();

export function templateSource(name: TemplateName): string {
  return readFileSync(`${TEMPLATES_DIR}${name}.md.hbs`, "utf8");
}

/** Renders `templates/<name>.md.hbs` with `data` (strict: a missing field is an error, not an empty string). */
export function renderTemplate(name: TemplateName, data: object): string {
  let template = cache.get(name);
  if (!template) {
    template = env.compile(templateSource(name), { strict: true, noEscape: false });
    cache.set(name, template);
  }
  return (
    template(data)
      .replace(/[ \t]+$/gm, "")
      .replace(/\n{3,}/g, "\n\n")
      .trim() + "\n"
  );
}
