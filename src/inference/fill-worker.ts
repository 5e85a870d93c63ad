/**
 * A weight-fill helper thread (weight-store.ts `WeightStore.load`): fills its share of a
 * model's float32 weights from the safetensors files and moves the buffers back to the thread
 * that owns the session, so a large load's page faults and conversion use more than one core.
 */
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../util/errors.js";
import { runFillJobs, type FillJob } from "./weight-store.js";

const { jobs } = workerData as { jobs: FillJob[] };
try {
  const arrays = await runFillJobs(jobs);
  parentPort!.postMessage({ ok: true, arrays }, arrays.map(([, a]) => a.buffer as ArrayBuffer));
} catch (err) {
  parentPort!.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err), user: err instanceof UserError });
}
