/**
 * Generator backend for any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp's
 * server): /v1/chat/completions or /v1/completions, one request per prompt, bounded
 * concurrency, retries with backoff on 408/429/5xx and network errors, a timeout per request.
 *
 * Models: with `launch`, the backend starts the server itself for each α's folder (command
 * template with {model} and {port}) and waits until /v1/models answers; with `reload`, it
 * asks the running server to load the new folder in place instead of restarting it — one
 * request or a sequence (RELOAD_PRESETS: SGLang's POST /update_weights_from_disk; vLLM's
 * dev-mode POST /collective_rpc update_config → reload_weights). When a reload fails and a
 * launch command is given, the server is restarted on the new folder and later switches
 * restart too. Without either, the endpoint must already serve the one model asked for.
 *
 * LoRA adapters (`lora`): the server holds θ0 once (launched with {model} = θ0's folder, or
 * already running with --enable-lora) and each α is a scaled adapter folder, loaded at
 * runtime by name (vLLM: POST /v1/load_lora_adapter with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True;
 * SGLang: POST /load_lora_adapter) and asked for in the request's `model` field, so the
 * server never restarts between α.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../util/errors.js";
import type { GenerateOptions, Generation, Generator, ModelRef, Sampling } from "./types.js";

export interface LaunchOptions {
  /** Shell command; `{model}` becomes the model folder (shell-quoted), `{port}` the port. */
  command: string;
  /** Port the launched server listens on (default 8000); the endpoint is http://127.0.0.1:{port}. */
  port?: number;
  /** How long to wait for /v1/models after a start (default 600 s: large models load slowly). */
  readyTimeoutMs?: number;
  env?: Record<string, string>;
}

export interface ReloadOptions {
  /** Path on the server, e.g. "/update_weights_from_disk". */
  path: string;
  /** JSON body; any string "{model}" in it becomes the folder. */
  body: Record<string, unknown>;
}

/**
 * In-place weight reloads of the engines that have one. `{model}` becomes the folder.
 * - sglang: POST /update_weights_from_disk {"model_path"} (SGLang's native endpoint).
 * - vllm: with VLLM_SERVER_DEV_MODE=1, POST /collective_rpc to point every worker's
 *   model_config at the folder (`update_config`), then `reload_weights` from it.
 */
export const RELOAD_PRESETS: Record<"sglang" | "vllm", ReloadOptions[]> = {
  sglang: [{ path: "/update_weights_from_disk", body: { model_path: "{model}" } }],
  vllm: [
    { path: "/collective_rpc", body: { method: "update_config", args: [{ model_config: { model: "{model}" } }] } },
    { path: "/collective_rpc", body: { method: "reload_weights" } },
  ],
};
export interface LoraServingOptions {
  /** θ0's folder: the one model the server loads (`{model}` of the launch command). */
  baseDir: string;
  /** The runtime load endpoint: "/v1/load_lora_adapter" (vLLM) or "/load_lora_adapter" (SGLang). */
  loadPath: string;
}

export interface OpenAIGeneratorOptions {
  /** Base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted). Required without `launch`. */
  endpoint?: string;
  /** "chat" (default: the prompt as one user turn, the server applies the chat template) or "completions" (raw text). */
  mode?: "chat" | "completions";
  /** Served model name; default the first id /v1/models lists. */
  model?: string;
  apiKey?: string;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Retries per request after the first try (default 4). */
  retries?: number;
  /** Per-request timeout (default 300 s). */
  timeoutMs?: number;
  /** First backoff delay; doubles per retry (default 500 ms). */
  retryBaseMs?: number;
  /** Send top_k (a vLLM/SGLang/llama.cpp extension the OpenAI API itself rejects). Default true. */
  sendTopK?: boolean;
  launch?: LaunchOptions;
  /** One reload request, or several sent in order (see RELOAD_PRESETS). */
  reload?: ReloadOptions | ReloadOptions[];
  lora?: LoraServingOptions;
  fetch?: typeof fetch;
  /** Log lines (server start/stop, retries). */
  log?: (line: string) => void;
}

const RETRYABLE = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

class HttpError extends Error {
  constructor(message: string, readonly status: number, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** A served adapter name from its folder: the folder name (alpha-0.5, …) plus a short hash of the path, so two runs never collide. */
export function loraName(dir: string): string {
  const base = dir.replace(/\/+$/, "").split("/").pop()!.replace(/[^\w.-]/g, "_").slice(0, 40);
  return `expo-${base}-${createHash("sha256").update(dir).digest("hex").slice(0, 8)}`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class OpenAIGenerator implements Generator {
  readonly id: string;
  /** Requests sent (retries included), for tests. */
  requests = 0;
  retried = 0;
  starts = 0;
  reloads = 0;
  /** Set when an in-place reload failed and the backend fell back to restarting (the reason). */
  reloadFailed: string | undefined;
  /** LoRA adapters loaded into the running server (lora mode), by folder. */
  readonly adapters = new Map<string, string>();
  private current: string | undefined;
  private servedName: string | undefined;
  private child: ChildProcess | undefined;
  private childLog: string[] = [];
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: OpenAIGeneratorOptions) {
    if (!options.endpoint && !options.launch) throw new UserError("the openai generator needs --endpoint URL or a launch command");
    this.fetchImpl = options.fetch ?? fetch;
    this.id = `openai:${options.mode ?? "chat"}${options.model ? `:${options.model}` : ""}`;
  }

  get base(): string {
    const raw = this.options.endpoint ?? `http://127.0.0.1:${this.options.launch?.port ?? 8000}`;
    return raw.replace(/\/+$/, "").replace(/\/v1$/, "");
  }

  async generate(model: ModelRef, prompts: string[], sampling: Sampling, options: GenerateOptions = {}): Promise<Generation[]> {
    await this.use(model.dir, options.signal);
    const out: Generation[] = new Array(prompts.length);
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < prompts.length) {
        const i = next++;
        out[i] = await this.complete(prompts[i], sampling, options.signal);
        options.onDone?.(++done);
      }
    };
    const workers = Array.from({ length: Math.max(1, Math.min(this.options.concurrency ?? 8, prompts.length)) }, worker);
    await Promise.all(workers);
    return out;
  }

  async close(): Promise<void> {
    await this.stopServer();
    this.current = undefined;
  }

  /** Makes the server serve `dir`: start, reload in place, or restart. */
  private async use(dir: string, signal?: AbortSignal): Promise<void> {
    if (this.current === dir) return;
    if (this.options.lora) return this.useAdapter(dir, this.options.lora, signal);
    const { launch } = this.options;
    const reload = this.reloadFailed === undefined ? this.options.reload : undefined;
    // With a reload endpoint and an external server, reload on first use too: the server may
    // hold any model (e.g. θ1 while a resumed run starts at another α).
    if (reload && (launch ? this.child !== undefined && this.current !== undefined : true)) {
      try {
        await this.reloadInPlace(dir, Array.isArray(reload) ? reload : [reload], signal);
      } catch (err) {
        if (!launch || signal?.aborted) throw err;
        // The engine has no working in-place reload (e.g. vLLM without dev mode): restart instead, from now on.
        this.reloadFailed = (err as Error).message;
        this.options.log?.(`in-place reload failed, restarting the server instead: ${this.reloadFailed}`);
        await this.stopServer();
        await this.startServer(dir, launch, signal);
      }
    } else if (launch) {
      await this.stopServer();
      await this.startServer(dir, launch, signal);
    } else if (this.current !== undefined) {
      throw new UserError(
        `the server at ${this.base} serves one model and cannot switch to ${dir}: give a launch command (--launch) or an in-place reload endpoint (--reload-path)`,
      );
    }
    this.current = dir;
    this.servedName = this.options.model ?? (await this.firstModelId(signal));
  }

  private async reloadInPlace(dir: string, steps: ReloadOptions[], signal?: AbortSignal): Promise<void> {
    const quoted = JSON.stringify(dir).slice(1, -1);
    for (const step of steps) {
      const body = JSON.parse(JSON.stringify(step.body).split("{model}").join(quoted));
      const res = await this.request(step.path, body, signal, this.options.launch?.readyTimeoutMs ?? 600_000);
      // SGLang answers {"success": false, "message"} when the folder does not load.
      if (res && typeof res === "object" && (res as { success?: unknown }).success === false) {
        throw new Error(`${step.path} did not load ${dir}: ${JSON.stringify(res).slice(0, 300)}`);
      }
      this.options.log?.(`reload step ${step.path} for ${dir}: ${JSON.stringify(res).slice(0, 200)}`);
    }
    this.reloads++;
  }

  /** Lora mode: start the θ0 server once, load each α's adapter once, then ask for it by name. */
  private async useAdapter(dir: string, lora: LoraServingOptions, signal?: AbortSignal): Promise<void> {
    if (this.options.launch && !this.child) {
      await this.startServer(lora.baseDir, this.options.launch, signal);
      this.adapters.clear();
    }
    let name = this.adapters.get(dir);
    if (!name) {
      name = loraName(dir);
      await this.request(lora.loadPath, { lora_name: name, lora_path: dir }, signal, this.options.launch?.readyTimeoutMs ?? 600_000, true);
      this.adapters.set(dir, name);
      this.options.log?.(`loaded LoRA adapter ${name} from ${dir} (${lora.loadPath})`);
    }
    this.current = dir;
    this.servedName = name;
  }

  private async firstModelId(signal?: AbortSignal): Promise<string> {
    const res = await this.fetchImpl(`${this.base}/v1/models`, { headers: this.headers(), signal });
    if (!res.ok) throw new Error(`${this.base}/v1/models answered ${res.status}`);
    const body = (await res.json()) as { data?: { id?: string }[] };
    const id = body.data?.[0]?.id;
    if (!id) throw new Error(`${this.base}/v1/models lists no model`);
    return id;
  }

  private async startServer(dir: string, launch: LaunchOptions, signal?: AbortSignal): Promise<void> {
    const port = launch.port ?? 8000;
    const command = launch.command.split("{model}").join(shellQuote(dir)).split("{port}").join(String(port));
    this.options.log?.(`starting: ${command}`);
    this.childLog = [];
    const child = spawn(command, {
      shell: true,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...launch.env, EXPO_MODEL_DIR: dir, EXPO_PORT: String(port) },
    });
    this.child = child;
    this.starts++;
    const keep = (chunk: Buffer) => {
      this.childLog.push(...chunk.toString().split("\n").filter(Boolean));
      if (this.childLog.length > 40) this.childLog.splice(0, this.childLog.length - 40);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exited: number | null | undefined;
    child.on("exit", (code) => (exited = code));
    const deadline = Date.now() + (launch.readyTimeoutMs ?? 600_000);
    for (;;) {
      signal?.throwIfAborted();
      if (exited !== undefined) {
        this.child = undefined;
        throw new Error(`the server command exited (code ${exited}) before answering /v1/models:\n${this.childLog.slice(-10).join("\n")}`);
      }
      try {
        const res = await this.fetchImpl(`${this.base}/v1/models`, { headers: this.headers(), signal: AbortSignal.timeout(5000) });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        await this.stopServer();
        throw new Error(`the server did not answer ${this.base}/v1/models within ${launch.readyTimeoutMs ?? 600_000} ms:\n${this.childLog.slice(-10).join("\n")}`);
      }
      await sleep(250);
    }
  }

  private async stopServer(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig); // the whole process group the shell started
      } catch {
        // already gone
      }
    };
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    return h;
  }

  private async complete(prompt: string, s: Sampling, signal?: AbortSignal): Promise<Generation> {
    const chat = (this.options.mode ?? "chat") === "chat";
    const body: Record<string, unknown> = {
      model: this.servedName,
      temperature: s.temperature,
      top_p: s.topP,
      presence_penalty: s.presencePenalty,
      frequency_penalty: s.frequencyPenalty,
      seed: s.seed,
      max_tokens: s.maxTokens,
      n: 1,
      stream: false,
    };
    if (this.options.sendTopK !== false) body.top_k = s.topK;
    if (chat) body.messages = [{ role: "user", content: prompt }];
    else body.prompt = prompt;
    const res = (await this.request(chat ? "/v1/chat/completions" : "/v1/completions", body, signal)) as {
      choices?: { message?: { content?: string | null }; text?: string; finish_reason?: string | null }[];
      usage?: { completion_tokens?: number };
    };
    const choice = res.choices?.[0];
    const text = chat ? choice?.message?.content : choice?.text;
    if (typeof text !== "string") throw new Error(`${this.base}: the answer has no ${chat ? "choices[0].message.content" : "choices[0].text"}`);
    const tokens = res.usage?.completion_tokens;
    if (typeof tokens !== "number") throw new Error(`${this.base}: the answer has no usage.completion_tokens (needed for answer lengths)`);
    // finish_reason "length" means the answer was cut at max_tokens: kept so the report can say how often.
    const finish = choice?.finish_reason;
    return typeof finish === "string" && finish ? { text, tokens, finishReason: finish } : { text, tokens };
  }

  /** POST with retries, backoff and a timeout per try. */
  private async request(path: string, body: unknown, signal?: AbortSignal, timeoutMs = this.options.timeoutMs ?? 300_000, plainText = false): Promise<unknown> {
    const retries = this.options.retries ?? 4;
    const baseDelay = this.options.retryBaseMs ?? 500;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      signal?.throwIfAborted();
      if (attempt > 0) {
        const wait = lastError instanceof HttpError && lastError.retryAfterMs !== undefined ? lastError.retryAfterMs : baseDelay * 2 ** (attempt - 1);
        this.retried++;
        this.options.log?.(`retry ${attempt}/${retries} of ${path} in ${wait} ms: ${(lastError as Error).message}`);
        await sleep(wait, undefined, { signal });
      }
      this.requests++;
      const timeout = AbortSignal.timeout(timeoutMs);
      try {
        const res = await this.fetchImpl(`${this.base}${path}`, {
          method: "POST",
          headers: this.headers(),
          body: JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        const text = await res.text();
        if (!res.ok) {
          const retryAfter = Number(res.headers.get("retry-after"));
          const err = new HttpError(`${path} answered ${res.status}: ${text.slice(0, 300)}`, res.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
          if (!RETRYABLE.has(res.status)) throw err;
          lastError = err;
          continue;
        }
        // vLLM's /v1/load_lora_adapter answers plain text.
        return plainText ? text : JSON.parse(text);
      } catch (err) {
        if (signal?.aborted) throw err;
        if (err instanceof HttpError && !RETRYABLE.has(err.status)) throw err;
        if (err instanceof SyntaxError) throw new Error(`${path}: the answer is not JSON (${err.message})`);
        lastError = timeout.aborted ? new Error(`${path} timed out after ${timeoutMs} ms`) : err;
      }
    }
    throw new Error(`${this.base}${path} failed after ${retries + 1} tries: ${(lastError as Error).message}`);
  }
}
