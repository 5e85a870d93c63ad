/**
 * Progress for long operations: a redrawn bar on a TTY; off a TTY (`| tee`, CI logs) one
 * plain line per update (at most one per `intervalMs`), or one JSON line when asked
 * (`mode: "json"`, the commands' --json-progress, or EXPO_BOT_PROGRESS=json); nothing when
 * `silent`. Always writes to stderr so that stdout stays clean for `--json` output.
 */

/** bar: redrawn (TTY only; falls back to text); text: plain lines; json: JSON lines. */
export type ProgressMode = "auto" | "text" | "json";

/** The mode a command's flags ask for: --json-progress, else EXPO_BOT_PROGRESS=json|text, else auto. */
export function progressMode(flags: { quiet?: boolean; json?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (flags.json) return "json";
  const e = env.EXPO_BOT_PROGRESS?.trim().toLowerCase();
  return e === "json" || e === "text" ? e : "auto";
}
export interface ProgressOptions {
  label: string;
  total: number;
  /** How `done`/`total` are shown: plain counts or bytes. */
  unit?: "items" | "bytes";
  silent?: boolean;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
  /** Default: EXPO_BOT_PROGRESS, else auto (bar on a TTY, text lines otherwise). */
  mode?: ProgressMode;
}

export class Progress {
  private done = 0;
  private detail = "";
  private lastDraw = 0;
  private readonly started = Date.now();
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly json: boolean;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    const mode = options.mode ?? progressMode();
    this.json = mode === "json";
    this.tty = mode === "auto" && Boolean(this.stream.isTTY);
  }

  update(done: number, detail = ""): void {
    this.done = done;
    this.detail = detail;
    this.draw(false);
  }

  advance(by: number, detail = ""): void {
    this.update(this.done + by, detail);
  }

  finish(detail = ""): void {
    this.done = this.options.total;
    this.detail = detail;
    this.draw(true);
    if (this.tty && !this.options.silent) this.stream.write("\n");
  }

  private draw(force: boolean): void {
    if (this.options.silent) return;
    const now = Date.now();
    const interval = this.options.intervalMs ?? (this.tty ? 100 : 2000);
    if (!force && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const { label, total } = this.options;
    const fraction = total > 0 ? Math.min(1, this.done / total) : 1;
    const seconds = (now - this.started) / 1000;
    if (this.tty) {
      const width = 28;
      const filled = Math.round(fraction * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const counts = `${this.format(this.done)}/${this.format(total)}`;
      const line = `${label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${counts} ${seconds.toFixed(1)}s ${this.detail}`;
      this.stream.write(`\r\x1b[2K${line.slice(0, (this.stream.columns ?? 120) - 1)}`);
    } else if (!this.json) {
      const counts = `${this.format(this.done)}/${this.format(total)}`;
      this.stream.write(`${label}: ${(fraction * 100).toFixed(0)}% ${counts} ${seconds.toFixed(1)}s${this.detail ? ` ${this.detail}` : ""}\n`);
    } else {
      this.stream.write(
        JSON.stringify({ event: "progress", label, done: this.done, total, seconds: Number(seconds.toFixed(2)), detail: this.detail || undefined }) + "\n",
      );
    }
  }

  private format(n: number): string {
    return this.options.unit === "bytes" ? formatBytes(n) : String(n);
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let i = 0;
  while (Math.abs(value) >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/** Parses sizes such as `5GB`, `500MB`, `2GiB`, `1000` (bytes). */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(text);
  if (!match) throw new Error(`not a size: "${text}" (expected e.g. 5GB, 500MB, 2GiB)`);
  const value = Number(match[1]);
  const unit = (match[2] ?? "").toLowerCase().replace(/b$/, "");
  const powers: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40 };
  const factor = powers[unit];
  if (factor === undefined) throw new Error(`unknown size unit in "${text}"`);
  return Math.round(value * factor);
}
