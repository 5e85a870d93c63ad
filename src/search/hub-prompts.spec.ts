/**
 * `--prompts hub`: the CLI lists the UltraFeedback dataset repo and reads the test_gen
 * parquet by HTTP range requests through src/hub. The local Hub (src/hub-server) serves
 * model repos only, so a small dataset endpoint on 127.0.0.1 stands in here.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubPrompts } from "./hub-prompts.js";
import { parquet } from "./spec-parquet.js";

const file = "data/test_gen-00000-of-00001.parquet";
const bytes = parquet({ prompt: ["Plan a trip to Kyoto.", "What is 2+2?"], prompt_id: ["k1", "k2"], messages: ["x", "y"] });
let server: Server;
let url = "";
const ranges: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url!, "http://x");
    if (u.pathname === "/api/datasets/HuggingFaceH4/ultrafeedback_binarized/tree/main") {
      res.setHeader("content-type", "application/json");
      return res.end(JSON.stringify([
        { type: "file", path: "README.md", size: 10, oid: "a".repeat(40) },
        { type: "file", path: file, size: bytes.length, oid: "b".repeat(40) },
      ]));
    }
    if (u.pathname === `/datasets/HuggingFaceH4/ultrafeedback_binarized/resolve/main/${file}`) {
      const m = /bytes=(\d+)-(\d+)?/.exec(req.headers.range ?? "");
      ranges.push(req.headers.range ?? "(none)");
      const start = m ? Number(m[1]) : 0;
      const end = m?.[2] !== undefined ? Number(m[2]) : bytes.length - 1;
      res.writeHead(m ? 206 : 200, { "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${bytes.length}`, "accept-ranges": "bytes" });
      return res.end(req.method === "HEAD" ? undefined : bytes.subarray(start, end + 1));
    }
    res.writeHead(404).end(JSON.stringify({ error: `no route ${u.pathname}` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("--prompts hub", () => {
  it("finds test_gen in the listing and reads its prompt column by range requests", async () => {
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = url;
    try {
      const prompts = await hubPrompts();
      expect(prompts).toEqual([
        { id: "k1", text: "Plan a trip to Kyoto." },
        { id: "k2", text: "What is 2+2?" },
      ]);
      expect(ranges.length).toBeGreaterThan(0); // this file is tiny: hyparquet reads its last 512 kB (here all of it) for the footer
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  });
});
