/** Test-only: a corpus of malformed safetensors files, each with the error it must be refused with. */
export interface MalformedCase {
  label: string;
  bytes: Uint8Array;
  error: RegExp;
}

function file(header: string | Uint8Array, data: number | Uint8Array = 0, lengthOverride?: bigint): Uint8Array {
  const h = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.byteLength + d.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(d, 8 + h.byteLength);
  return out;
}

const t = (entries: Record<string, unknown>) => JSON.stringify(entries);

export function malformedCorpus(): MalformedCase[] {
  return [
    { label: "empty file", bytes: new Uint8Array(0), error: /too small for the 8-byte header length/ },
    { label: "7 bytes", bytes: new Uint8Array(7), error: /too small for the 8-byte header length/ },
    { label: "header length over 100,000,000", bytes: file("{}", 0, 100_000_001n), error: /exceeds the limit of 100000000 bytes/ },
    { label: "header length 2^64 − 1", bytes: file("{}", 0, 0xffffffffffffffffn), error: /exceeds the limit/ },
    { label: "header runs past the end of the file", bytes: file("{}", 0, 100n), error: /runs past the end of the \d+-byte file/ },
    { label: "header not UTF-8", bytes: file(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), error: /not valid UTF-8/ },
    { label: "header not starting with {", bytes: file(' {"a":1}'), error: /does not start with '\{'/ },
    { label: "header a JSON array", bytes: file("[1,2]"), error: /does not start with '\{'/ },
    { label: "header truncated JSON", bytes: file('{"a": {"dtype": "F32"'), error: /not valid JSON/ },
    { label: "__metadata__ with a number", bytes: file(t({ __metadata__: { format: 1 } })), error: /__metadata__\["format"\] is a number, not a string/ },
    { label: "__metadata__ an array", bytes: file(t({ __metadata__: ["pt"] })), error: /__metadata__ is not an object of strings/ },
    { label: "tensor entry not an object", bytes: file(t({ w: 3 })), error: /tensor "w" is not an object/ },
    { label: "unknown dtype", bytes: file(t({ w: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }), 16), error: /tensor "w" has unknown dtype "F128"/ },
    { label: "sub-byte dtype F4", bytes: file(t({ w: { dtype: "F4", shape: [2], data_offsets: [0, 1] } }), 1), error: /unknown dtype "F4"/ },
    { label: "no shape", bytes: file(t({ w: { dtype: "F32", data_offsets: [0, 4] } }), 4), error: /tensor "w" has no shape array/ },
    { label: "negative dimension", bytes: file(t({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), 4), error: /invalid dimension -1/ },
    { label: "fractional dimension", bytes: file(t({ w: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }), 4), error: /invalid dimension 1.5/ },
    { label: "unsafe-integer dimension", bytes: file('{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,1]}}', 1), error: /invalid dimension/ },
    { label: "data_offsets with three numbers", bytes: file(t({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4, 8] } }), 4), error: /data_offsets must be \[begin, end\]/ },
    { label: "negative offset", bytes: file(t({ w: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } })), error: /invalid data offset -4/ },
    { label: "string offset", bytes: file(t({ w: { dtype: "F32", shape: [1], data_offsets: ["0", 4] } }), 4), error: /invalid data offset "0"/ },
    { label: "gap between tensors", bytes: file(t({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } }), 12), error: /gap before tensor "b": data_offsets begin at 8, previous data ends at 4/ },
    { label: "data not starting at 0", bytes: file(t({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), 8), error: /gap before tensor "a"/ },
    { label: "overlapping tensors", bytes: file(t({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), 8), error: /tensor "b" overlaps the previous tensor/ },
    { label: "end before begin", bytes: file(t({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [0], data_offsets: [4, 2] } }), 4), error: /tensor "b": data_offsets end 2 is before begin 4/ },
    { label: "byte length ≠ numel × size", bytes: file(t({ a: { dtype: "BF16", shape: [3], data_offsets: [0, 8] } }), 8), error: /tensor "a": BF16 shape \[3\] needs 6 bytes but data_offsets span 8/ },
    { label: "element count overflow", bytes: file(t({ a: { dtype: "F32", shape: [4294967296, 4294967296], data_offsets: [0, 4] } }), 4), error: /element count of shape \[4294967296, 4294967296\] overflows/ },
    { label: "trailing bytes after the data", bytes: file(t({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }), 6), error: /tensor data ends at byte \d+ but the file has \d+ bytes/ },
    { label: "data truncated", bytes: file(t({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }), 10), error: /tensor data ends at byte \d+ but the file has \d+ bytes/ },
  ];
}
