/**
 * Secret redaction for everything the project writes where others can read it: logs (every
 * logger, through `redactingStream`), comments, `results.json` and the job's stderr.
 *
 * Two mechanisms, both applied by `scrubSecrets`:
 * - token SHAPES (Hugging Face, GitHub, OpenAI-style keys, `Bearer …`, `key=value` pairs whose
 *   key names a secret, credentials in URLs, JSON/header fields named like a secret), which
 *   catch tokens this process was never told about;
 * - known secret VALUES: every secret the process is configured with (`registerSecret`:
 *   WEBHOOK_SECRET, HF_WEBHOOK_SECRET, HF_TOKEN…) is replaced wherever it appears, whatever
 *   its shape — a webhook secret is any random string and has no recognisable shape.
 *
 * A token is replaced whole: callers that shorten text must scrub before they cut, or the cut
 * leaves a prefix too short for the shapes to recognise.
 */

export const REDACTED = "[REDACTED]";

/** Field, header and query-parameter names whose value is a secret. */
const SECRET_KEY = String.raw`(?:x-webhook-secret|authorization|proxy-authorization|cookie|set-cookie|x-hub-signature(?:-256)?|access_token|refresh_token|client_secret|private_key|hf_token|webhook_secret|api[_-]?key|token|password|passwd|secret)`;

/** Token shapes that must never be echoed. */
const SECRET_PATTERNS: Array<[RegExp, (match: string, ...groups: string[]) => string]> = [
  // "authorization": "…", 'x-webhook-secret': '…' (JSON, JS object dumps, pino lines).
  [new RegExp(String.raw`(["']${SECRET_KEY}["']\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')`, "gi"), (_m, key) => `${key}"${REDACTED}"`],
  // Authorization: Bearer …, X-Webhook-Secret: … as an HTTP header line.
  [new RegExp(String.raw`(^|\n|\r)(\s*${SECRET_KEY}\s*:[ \t]*)[^\r\n]+`, "gi"), (_m, start, key) => `${start}${key}${REDACTED}`],
  // Hugging Face user/org tokens (real ones are 34–40 characters after the prefix; 20 keeps
  // `hf_transfer`, `hf_hub_download` and the like readable while catching truncated tokens).
  [/\bhf_[A-Za-z0-9]{20,}/g, () => REDACTED],
  [/\bapi_org_[A-Za-z0-9]{20,}/g, () => REDACTED],
  // GitHub tokens (personal, OAuth, user-to-server, server-to-server, refresh; fine-grained).
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, () => REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, () => REDACTED],
  // OpenAI-style API keys.
  [/\b(?:sk|pk)-[A-Za-z0-9_-]{16,}/g, () => REDACTED],
  // JSON Web Tokens (GitHub App JWTs, OAuth id tokens).
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, () => REDACTED],
  // HTTP Authorization values.
  [/\b(Bearer|Basic|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  // key=value in URLs (`?secret=…`), form bodies and logs.
  [new RegExp(String.raw`\b(${SECRET_KEY}=)[^\s&"'#]+`, "gi"), (_m, key) => `${key}${REDACTED}`],
  // Credentials in URLs.
  [/(https?:\/\/)[^\s/:@]+:[^\s/@]+@/gi, (_m, scheme) => `${scheme}${REDACTED}@`],
  // PEM private keys (the GitHub App's key).
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, () => REDACTED],
];

const knownSecrets = new Set<string>();

/**
 * Registers a configured secret value so that it is redacted wherever it appears, whatever
 * its shape. Values under 8 characters are not registered (they would redact ordinary
 * words); configuration refuses secrets that short anyway.
 */
export function registerSecret(value: string | undefined | null): void {
  const v = value?.trim();
  if (v && v.length >= 8) knownSecrets.add(v);
}

/** Replaces anything that looks like (or is known to be) a credential with `[REDACTED]`. Idempotent. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  for (const [pattern, replace] of SECRET_PATTERNS) out = out.replace(pattern, replace as (m: string, ...g: any[]) => string);
  return out;
}

/** Scrubs a value meant for a log or an error report: strings directly, anything else through JSON. */
export function scrubValue<T>(value: T): T {
  if (typeof value === "string") return scrubSecrets(value) as T;
  if (value === null || typeof value !== "object") return value;
  try {
    return JSON.parse(scrubSecrets(JSON.stringify(value))) as T;
  } catch {
    return value;
  }
}
