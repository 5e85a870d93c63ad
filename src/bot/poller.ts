/**
 * The tag poller: lists models carrying `expo` across the Hub on an interval, for repos no
 * webhook watches, and feeds each new head to the same intake as the webhook. A repo whose
 * head the ledger already knows costs nothing more than the listing.
 */
import { errorMessage } from "../util/errors.js";
import type { Ledger } from "./ledger.js";
import { REQUEST_TAG } from "./request.js";
import type { BotHub, Logger, RequestCandidate } from "./types.js";

export interface PollerOptions {
  hub: BotHub;
  ledger: Ledger;
  intake: (c: RequestCandidate) => Promise<unknown>;
  intervalMs: number;
  /** Most candidates taken per pass (the rest wait for the next one). */
  maxPerPass?: number;
  log?: Logger;
}

/** One pass; returns how many candidates went to intake. */
export async function pollOnce(o: Omit<PollerOptions, "intervalMs">): Promise<number> {
  let n = 0;
  const max = o.maxPerPass ?? 50;
  for await (const m of o.hub.listModelsWithTag(REQUEST_TAG)) {
    if (n >= max) break;
    if (m.sha && o.ledger.knowsTheta1(m.id, m.sha)) continue;
    n++;
    try {
      await o.intake({ source: "hub-poll", theta1: m.id, theta1Revision: m.sha, requester: `hub:${m.id.split("/")[0]}` });
    } catch (err) {
      o.log?.error({ theta1: m.id, err: errorMessage(err) }, "poll intake failed");
    }
  }
  return n;
}

/** Starts polling (first pass after one interval); returns a stop function. Passes never overlap. */
export function startPoller(o: PollerOptions): () => void {
  if (o.intervalMs <= 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    pollOnce(o)
      .catch((err) => o.log?.error({ err: errorMessage(err) }, "poll failed"))
      .finally(() => {
        running = false;
      });
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
