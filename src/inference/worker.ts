/**
 * The inference worker thread: owns one loaded model (CausalLMEngine or RewardEngine) and
 * answers calls from index.ts, so onnxruntime's blocking session.run never stalls the main
 * event loop. Messages: { id, op, args } in; { id, ok, result | error } out.
 */
import { parentPort } from "node:worker_threads";
import { UserError } from "../util/errors.js";
import { CausalLMEngine, RewardEngine } from "./engine.js";

export interface WorkerRequest {
  id: number;
  op: "load" | "setAlpha" | "generate" | "logits" | "score" | "scoreTokenIds" | "encode" | "encodePair" | "stats" | "close";
  args: unknown[];
}

export interface WorkerError {
  message: string;
  name: string;
  userError: boolean;
  stack?: string;
}

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WorkerError };

let causal: CausalLMEngine | null = null;
let reward: RewardEngine | null = null;

async function handle(req: WorkerRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  const a = req.args as any[];
  switch (req.op) {
    case "load": {
      const [kind, dir, options] = a as ["causal" | "reward", string, Record<string, unknown>];
      if (kind === "causal") {
        causal = await CausalLMEngine.load(dir, options);
        return { result: { spec: summary(causal.spec), eosIds: causal.tokenizer.eosIds, padId: causal.tokenizer.padId, hasChatTemplate: causal.tokenizer.hasChatTemplate } };
      }
      reward = await RewardEngine.load(dir, options);
      return { result: { spec: summary(reward.spec), eosIds: reward.tokenizer.eosIds, padId: reward.tokenizer.padId, hasChatTemplate: reward.tokenizer.hasChatTemplate } };
    }
    case "setAlpha":
      return { result: await need(causal).setAlpha(a[0]) };
    case "generate":
      return { result: await need(causal).generate(a[0], a[1]) };
    case "encode":
      return { result: need(causal).encode(a[0], a[1]) };
    case "stats":
      return { result: need(causal).lastStats };
    case "logits": {
      const engine = causal ?? need(reward);
      const { values, dims } = await engine.logits(a[0]);
      const copy = values.slice();
      return { result: { values: copy, dims }, transfer: [copy.buffer as ArrayBuffer] };
    }
    case "score":
      return { result: await need(reward).score(a[0], a[1]) };
    case "scoreTokenIds":
      return { result: await need(reward).scoreTokenIds(a[0], a[1]) };
    case "encodePair":
      return { result: need(reward).encodePair(a[0]) };
    case "close":
      await causal?.close();
      await reward?.close();
      causal = reward = null;
      return { result: null };
  }
}

function need<T>(engine: T | null): T {
  if (!engine) throw new Error("inference worker: no model of that kind is loaded");
  return engine;
}

function summary(spec: CausalLMEngine["spec"]) {
  const { invFreq: _unused, ...rest } = spec;
  return rest;
}

// Calls are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();
parentPort!.on("message", (req: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(req);
      parentPort!.postMessage({ id: req.id, ok: true, result } satisfies WorkerResponse, transfer ?? []);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      parentPort!.postMessage({ id: req.id, ok: false, error: { message: e.message, name: e.name, userError: e instanceof UserError, stack: e.stack } } satisfies WorkerResponse);
    }
  });
});
