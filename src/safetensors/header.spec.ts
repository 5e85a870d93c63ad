import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileByteSource } from "./byte-source.js";
import { DTYPE_BYTES, isDtype, parseFloatDtype } from "./dtype.js";
import { MAX_HEADER_BYTES, parseHeader, SafetensorsError } from "./header.js";
import { malformedCorpus } from "./malformed.testutil.js";
import { openSafetensors, openSafetensorsFile } from "./reader.js";
import { formatShardIndex, parseShardIndex, shardFileName, ShardIndexError, validateShardName } from "./shard-index.js";
import { buildHeader, orderForWriting, serializeSafetensors, writeSafetensors } from "./writer.js";

const root = await mkdtemp(join(tmpdir(), "expo-st-"));
afterAll(() => rm(root, { recursive: true, force: true }));

class MemorySource {
  constructor(readonly name: string, private readonly bytes: Uint8Array) {}
  async size() {
    return this.bytes.byteLength;
  }
  async read(offset: number, length: number) {
    if (offset + length > this.bytes.byteLength) throw new Error("short read");
    return this.bytes.slice(offset, offset + length);
  }
  async close() {}
}

describe("malformed files are refused with a specific error", () => {
  for (const c of malformedCorpus()) {
    it(c.label, async () => {
      const err = await openSafetensors(new MemorySource("bad.safetensors", c.bytes)).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err.message).toMatch(/^bad\.safetensors: invalid safetensors file: /);
      expect(err.message).toMatch(c.error);
    });
  }

  it("the limit is the reference's 100,000,000 bytes", () => {
    expect(MAX_HEADER_BYTES).toBe(100_000_000);
  });

  it("refuses through a real file too, naming the path", async () => {
    const path = join(root, "truncated.safetensors");
    await writeFile(path, malformedCorpus().find((c) => c.label === "data truncated")!.bytes);
    await expect(openSafetensorsFile(path)).rejects.toThrow(new RegExp(`^${path}: invalid safetensors file: tensor data ends`));
  });
});

describe("valid headers", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  it("accepts trailing space padding, empty files of tensors, zero-size tensors and metadata", () => {
    const json = JSON.stringify({ __metadata__: { format: "pt" }, a: { dtype: "F32", shape: [0], data_offsets: [0, 0] }, b: { dtype: "I64", shape: [2, 1], data_offsets: [0, 16] } }) + "    ";
    const h = parseHeader(enc(json), 8 + enc(json).byteLength + 16, "x");
    expect(h.tensors.get("b")).toEqual({ dtype: "I64", shape: [2, 1], dataOffsets: [0, 16] });
    expect(h.metadata).toEqual({ format: "pt" });
    expect(h.dataBytes).toBe(16);
    expect(parseHeader(enc("{}"), 10, "x").tensors.size).toBe(0);
  });

  it("keeps prototype-like tensor names as plain keys", () => {
    const json = '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
    const h = parseHeader(enc(json), 8 + json.length + 2, "x");
    expect([...h.tensors.keys()].sort()).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });

  it("knows exactly the reference dtypes with their sizes", () => {
    expect(Object.keys(DTYPE_BYTES).sort()).toEqual(["BF16", "BOOL", "F16", "F32", "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "I16", "I32", "I64", "I8", "U16", "U32", "U64", "U8"]);
    expect(isDtype("toString")).toBe(false);
    expect(parseFloatDtype("bfloat16")).toBe("BF16");
    expect(() => parseFloatDtype("int8")).toThrow(/unknown float dtype "int8"/);
  });
});

describe("writer", () => {
  const tensors = [
    { name: "b.bf16", dtype: "BF16" as const, shape: [3], data: new Uint8Array(6).fill(1) },
    { name: "a.f64", dtype: "F64" as const, shape: [1], data: new Uint8Array(8).fill(2) },
    { name: "c.u8", dtype: "U8" as const, shape: [5], data: new Uint8Array(5).fill(3) },
    { name: "__proto__", dtype: "F32" as const, shape: [1], data: new Uint8Array(4).fill(4) },
  ];

  it("pads the header to a multiple of 8 and aligns every tensor to its element size", async () => {
    const bytes = serializeSafetensors(tensors, { format: "pt" });
    const f = await openSafetensors(new MemorySource("mem", bytes));
    expect(f.header.dataStart % 8).toBe(0);
    for (const [, info] of f.header.tensors) expect((f.header.dataStart + info.dataOffsets[0]) % DTYPE_BYTES[info.dtype]).toBe(0);
    expect([...(await f.readTensor("c.u8"))]).toEqual([3, 3, 3, 3, 3]);
    expect([...(await f.readTensor("__proto__"))]).toEqual([4, 4, 4, 4]);
    expect(f.header.metadata).toEqual({ format: "pt" });
    expect(orderForWriting(tensors).map((t) => t.name)).toEqual(["a.f64", "__proto__", "b.bf16", "c.u8"]);
  });

  it("refuses duplicate and reserved names", () => {
    expect(() => buildHeader([{ name: "x", dtype: "U8", shape: [1] }, { name: "x", dtype: "U8", shape: [1] }])).toThrow(/duplicate tensor name "x"/);
    expect(() => buildHeader([{ name: "__metadata__", dtype: "U8", shape: [1] }])).toThrow(/reserved/);
  });

  it("streams a file in chunks, atomically; a failing producer leaves nothing", async () => {
    const path = join(root, "streamed.safetensors");
    await writeSafetensors(path, [{ name: "w", dtype: "F32", shape: [4] }], function* () {
      yield new Uint8Array(8).fill(1);
      yield new Uint8Array(8).fill(2);
    });
    const f = await openSafetensorsFile(path);
    expect([...(await f.readTensorRange("w", 6, 10))]).toEqual([1, 1, 2, 2]);
    await f.close();
    const bad = join(root, "bad-producer.safetensors");
    await expect(writeSafetensors(bad, [{ name: "w", dtype: "F32", shape: [4] }], function* () {
      yield new Uint8Array(8);
    })).rejects.toThrow(/gave 8 bytes, expected 16/);
    expect((await readdir(root)).filter((n) => n.includes("bad-producer"))).toEqual([]);
  });

  it("reads byte ranges through the file source and refuses ranges outside the tensor", async () => {
    const path = join(root, "ranges.safetensors");
    await writeFile(path, serializeSafetensors(tensors));
    const src = new FileByteSource(path);
    const f = await openSafetensors(src);
    await expect(f.readTensorRange("c.u8", 2, 9)).rejects.toThrow(/outside tensor "c.u8"/);
    expect(f.numel("b.bf16")).toBe(3);
    expect(() => f.info("nope")).toThrow(/no tensor named "nope"/);
    await f.close();
    expect(src.reads).toBeGreaterThanOrEqual(2);
  });
});

describe("shard index", () => {
  it("round-trips, with total_size = tensor bytes", () => {
    const text = formatShardIndex([["b", shardFileName(1, 2)], ["a", shardFileName(0, 2)]], 1234);
    const idx = parseShardIndex(text, "idx");
    expect(idx.metadata.total_size).toBe(1234);
    expect([...idx.weightMap]).toEqual([["a", "model-00001-of-00002.safetensors"], ["b", "model-00002-of-00002.safetensors"]]);
  });
  const badNames: Array<[unknown, RegExp]> = [
    ["/etc/passwd.safetensors", /contains a path separator/],
    ["../up.safetensors", /contains a path separator/],
    ["sub\\x.safetensors", /contains a path separator/],
    ["..", /points outside the model folder/],
    ["..x.safetensors", /points outside the model folder/],
    ["a\u0000.safetensors", /control characters/],
    ["model.bin", /does not end in .safetensors/],
    ["", /is not a file name/],
    [42, /is not a file name/],
  ];
  for (const [name, err] of badNames) {
    it(`refuses shard name ${JSON.stringify(name)}`, () => {
      expect(() => validateShardName(name, "idx")).toThrow(ShardIndexError);
      expect(() => validateShardName(name, "idx")).toThrow(err);
    });
  }
  it("refuses malformed index JSON", () => {
    expect(() => parseShardIndex("{", "idx")).toThrow(/idx: invalid safetensors index: not valid JSON/);
    expect(() => parseShardIndex("[]", "idx")).toThrow(/not a JSON object/);
    expect(() => parseShardIndex('{"metadata":{}}', "idx")).toThrow(/"weight_map" is missing/);
    expect(() => parseShardIndex('{"weight_map":{},"metadata":3}', "idx")).toThrow(/"metadata" is not an object/);
  });
});
