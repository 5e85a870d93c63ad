/**
 * The bot's logger: Probot's pino logger (same levels, same pretty/JSON formatting through
 * @probot/pino), with every line scrubbed of secrets before it is written.
 *
 * Probot's HTTP logger (pino-http) logs each request with its headers and URL, so a Hub
 * delivery would print `X-Webhook-Secret` (and `?secret=` when the secret rides in the URL),
 * a GitHub delivery its signature. Two layers stop that, for every child logger (Probot's,
 * the HTTP logger, ours):
 * - pino `redact` censors the header fields by path (structured, cheap);
 * - `redactingStream` scrubs each serialized line (`scrubSecrets`: token shapes, `key=value`
 *   query parameters, secret-named fields, and the configured secret values), so a secret
 *   that reaches a message, an error or a field nobody listed is still caught.
 */
import { Transform, type Writable } from "node:stream";
import { getTransformStream } from "@probot/pino";
import pino, { type Logger as PinoLogger } from "pino";
import { REDACTED, scrubSecrets } from "../util/redact.js";

const SECRET_HEADERS = ["x-webhook-secret", "authorization", "proxy-authorization", "cookie", "x-hub-signature", "x-hub-signature-256"];

/** pino `redact` paths: the secret headers of requests and responses, wherever pino-http or an error puts them. */
export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [`req.headers["${h}"]`, `headers["${h}"]`, `request.headers["${h}"]`, `err.request.headers["${h}"]`, `err.headers["${h}"]`]),
  `res.headers["set-cookie"]`,
];

/** A stream that scrubs every line written through it, then passes it on. */
export function redactingStream(): Transform {
  return new Transform({
    transform(chunk: Buffer | string, _enc, cb) {
      cb(null, scrubSecrets(chunk.toString()));
    },
  });
}

export interface BotLogOptions {
  level?: string;
  /** "json" for JSON lines; anything else is Probot's pretty format. */
  logFormat?: string;
  logLevelInString?: boolean;
  /** Where the formatted lines go (default: stdout). */
  destination?: Writable;
}

/** Probot's logger, redacting (see the module comment). Pass it to `run(appFn, { log })`. */
export async function createBotLog(options: BotLogOptions = {}): Promise<PinoLogger> {
  const format = await getTransformStream({ logFormat: options.logFormat as "json" | "pretty" | undefined, logLevelInString: options.logLevelInString });
  format.pipe((options.destination ?? pino.destination(1)) as NodeJS.WritableStream);
  const scrub = redactingStream();
  scrub.pipe(format);
  return pino({ level: options.level || "info", name: "probot", redact: { paths: REDACT_PATHS, censor: REDACTED } }, scrub);
}
