import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HubByteSource } from "./byte-source.js";
import { openHubCheckpoint, openHubSafetensors, safetensorsMetadata } from "./safetensors.js";
import { hubFileAccess } from "./file-access.js";
import { SafetensorsError } from "../safetensors/header.js";
import { serializeSafetensors } from "../safetensors/writer.js";
import { openSafetensors } from "../safetensors/reader.js";
import { HubGatedError, HubNotFoundError } from "./errors.js";
import { f32, startFixture, tinyModel, type Fixture } from "./spec-helpers.js";
import { rejectionOf } from "./spec-helpers.js";

let fx: Fixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx.hub.close();
});

function hostileHeader(json: string, extraBytes = 0): Uint8Array {
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.byteLength + extraBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  out.set(body, 8);
  return out;
}

describe("HubByteSource", () => {
  it("reads one tensor with a single range request and counts bytes and requests", async () => {
    const local = await openSafetensors(new MemorySource(tinyModel(1)));
    const file = await openHubSafetensors({ client: fx.client, repo: "org/aligned", path: "model.safetensors" });
    const source = file.source as HubByteSource;
    expect(source.requests).toBe(3); // size probe, 8-byte length, header
    fx.hub.admin.clearRequests();
    const bytes = await file.readTensor("model.layers.0.self_attn.q_proj.weight");
    expect(bytes).toEqual(f32([8, 8], 2));
    expect(bytes).toEqual(await local.readTensor("model.layers.0.self_attn.q_proj.weight"));
    const reqs = fx.hub.admin.requests;
    expect(reqs).toHaveLength(1);
    const info = file.info("model.layers.0.self_attn.q_proj.weight");
    expect(reqs[0]!.range).toBe(`bytes=${file.header.dataStart + info.dataOffsets[0]}-${file.header.dataStart + info.dataOffsets[1] - 1}`);
    expect(reqs[0]!.status).toBe(206);
    expect(source.requests).toBe(4);
    expect(source.bytesRead).toBe(8 + file.header.headerBytes + 256);
  });

  it("with a known size and read-ahead, opens a header in one request", async () => {
    const size = tinyModel(1).byteLength;
    fx.hub.admin.clearRequests();
    const file = await openHubSafetensors({ client: fx.client, repo: "org/aligned", path: "model.safetensors", size, readAheadBytes: 4096 });
    expect((file.source as HubByteSource).requests).toBe(1);
    expect(fx.hub.admin.requests).toHaveLength(1);
    expect(file.tensorNames()).toContain("model.norm.weight");
  });

  it("is HubNotFoundError for a missing file and HubGatedError for a gated repo", async () => {
    await expect(new HubByteSource({ client: fx.client, repo: "org/aligned", path: "nope.safetensors" }).size()).rejects.toThrow(HubNotFoundError);
    fx.hub.admin.setGated("org/aligned", "auto");
    await expect(openHubSafetensors({ client: fx.anon, repo: "org/aligned", path: "model.safetensors" })).rejects.toThrow(HubGatedError);
  });

  it("re-requests a range read whose body was cut short", async () => {
    const file = await openHubSafetensors({ client: fx.client, repo: "org/aligned", path: "model.safetensors" });
    fx.hub.admin.injectFault({ path: "/org/aligned/resolve/", truncateAfter: 10 });
    expect(await file.readTensor("model.embed_tokens.weight")).toEqual(f32([16, 8], 1));
    expect(fx.client.stats.retries).toBe(1);
  });
});

describe("hostile or truncated safetensors served by the Hub", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated file", tinyModel(1).subarray(0, 100), /runs past the end|data ends/],
    ["header length beyond the file", hostileHeader("{}").map((b, i) => (i === 0 ? 0xff : i === 1 ? 0xff : b)), /runs past the end/],
    ["huge header length", (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true); return b; })(), /exceeds the limit/],
    ["overlapping offsets", hostileHeader(JSON.stringify({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [2, 6] } }), 8), /overlaps|gap/],
    ["not JSON", hostileHeader("{nope"), /not valid JSON/],
    ["__proto__ tensor", hostileHeader(JSON.stringify({ __proto__: null }).replace("{}", '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), 4), /.*/],
  ];
  for (const [name, bytes, pattern] of cases) {
    it(`${name}: SafetensorsError from openHubSafetensors`, async () => {
      fx.hub.admin.commit("org/aligned", { "model.safetensors": bytes });
      const result = openHubSafetensors({ client: fx.client, repo: "org/aligned", path: "model.safetensors" });
      if (name === "__proto__ tensor") {
        // Valid by the format's rules; must not pollute prototypes.
        const file = await result;
        expect(file.tensorNames()).toEqual(["__proto__"]);
        expect(({} as Record<string, unknown>).dtype).toBeUndefined();
        return;
      }
      const err = await rejectionOf<Error>(result);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err.message).toMatch(pattern);
      expect(err.message).toContain("org/aligned/resolve/main/model.safetensors");
    });
  }

  it("the library's parseSafetensorsMetadata failure becomes a SafetensorsError too", async () => {
    fx.hub.admin.commit("org/aligned", { "model.safetensors": hostileHeader("{nope") });
    const err = await rejectionOf<Error>(safetensorsMetadata({ client: fx.client, repo: "org/aligned" }));
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err.message).toMatch(/org\/aligned\/model.safetensors: invalid safetensors file: .*not valid JSON/);
  });
});

describe("sharded checkpoints", () => {
  async function shard(): Promise<void> {
    const a = serializeSafetensors([{ name: "x.weight", dtype: "F32", shape: [4, 4], data: f32([4, 4], 7) }]);
    const b = serializeSafetensors([{ name: "y.weight", dtype: "F32", shape: [4], data: f32([4], 8) }]);
    const index = { metadata: { total_size: 80 }, weight_map: { "x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors" } };
    fx.hub.admin.createRepo("org/sharded", { files: { "model-00001-of-00002.safetensors": a, "model-00002-of-00002.safetensors": b, "model.safetensors.index.json": JSON.stringify(index) } });
  }

  it("safetensorsMetadata (library) reads every shard header", async () => {
    await shard();
    const meta = await safetensorsMetadata({ client: fx.client, repo: "org/sharded", computeParametersCount: true });
    expect(meta.sharded).toBe(true);
    expect(meta.parameterCount).toEqual({ F32: 20 });
  });

  it("openHubCheckpoint opens every shard with a bounded number of requests and reads a tensor", async () => {
    await shard();
    fx.hub.admin.clearRequests();
    const ckpt = await openHubCheckpoint({ client: fx.client, repo: "org/sharded" });
    expect([...ckpt.weightMap]).toEqual([["x.weight", "model-00001-of-00002.safetensors"], ["y.weight", "model-00002-of-00002.safetensors"]]);
    // listing + index + 2 header reads per shard, no size probes
    expect(fx.hub.admin.requests.length).toBe(1 + 1 + 2 * 2);
    expect(await ckpt.files.get("model-00002-of-00002.safetensors")!.readTensor("y.weight")).toEqual(f32([4], 8));
    expect(ckpt.usage().requests).toBe(5);
    await ckpt.close();
  });

  it("rejects an index pointing outside the repo", async () => {
    fx.hub.admin.createRepo("org/evil", { files: { "model.safetensors.index.json": JSON.stringify({ weight_map: { w: "../other/model.safetensors" } }) } });
    await expect(openHubCheckpoint({ client: fx.client, repo: "org/evil" })).rejects.toThrow(SafetensorsError);
  });

  it("hubFileAccess serves a listing-backed file view with sized byte sources", async () => {
    await shard();
    const access = hubFileAccess({ client: fx.client, repo: "org/sharded" });
    fx.hub.admin.clearRequests();
    expect(await access.exists("model.safetensors")).toBe(false);
    expect(await access.readText("model.safetensors")).toBeNull();
    expect(JSON.parse((await access.readText("model.safetensors.index.json"))!).weight_map["x.weight"]).toBe("model-00001-of-00002.safetensors");
    const file = await openSafetensors(access.open("model-00001-of-00002.safetensors"));
    expect(await file.readTensor("x.weight")).toEqual(f32([4, 4], 7));
    expect(access.usage().requests).toBe(3);
    // listing once, index in one request, 8-byte length + header + tensor
    expect(fx.hub.admin.requests.map((r) => r.status)).toEqual([200, 200, 206, 206, 206]);
  });
});

class MemorySource {
  readonly name = "memory";
  constructor(private readonly data: Uint8Array) {}
  async size() {
    return this.data.byteLength;
  }
  async read(offset: number, length: number) {
    return this.data.slice(offset, offset + length);
  }
  async close() {}
}
