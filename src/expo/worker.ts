/** A worker thread of the executor: runs ChunkJobs it is sent (src/expo/jobs.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { JobRunner, type ChunkJob } from "./jobs.js";

const runner = new JobRunner((workerData as { chunkElements: number }).chunkElements);

parentPort!.on("message", (msg: { type: "job"; id: number; job: ChunkJob } | { type: "exit" }) => {
  if (msg.type === "job") {
    try {
      const stats = runner.run(msg.job);
      parentPort!.postMessage({ type: "done", id: msg.id, stats });
    } catch (err) {
      parentPort!.postMessage({ type: "error", id: msg.id, message: (err as Error).message });
    }
  } else {
    runner.close();
    process.exit(0);
  }
});
