/**
 * A small graph-building layer over `onnx-proto` (ONNX's protobuf messages): named values,
 * nodes with typed attributes and small inline constants. The model builder (graph.ts) speaks
 * only this API (weights are graph inputs, never initializers).
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  /** A fresh value name with a readable prefix. */
  name(prefix: string): string {
    let n = prefix;
    while (this.used.has(n)) n = `${prefix}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: DataTypeId, shape: Dim[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  /** Declares `value` as a graph output named `name` (through an Identity when the names differ). */
  output(value: string, name: string, elemType: DataTypeId, shape: Dim[]): void {
    if (value !== name) {
      this.used.add(name);
      this.nodes.push({ opType: "Identity", input: [value], output: [name], name: `out_${name}` });
    }
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** Adds a node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, options: { domain?: string; name?: string } = {}): string {
    return this.opN(opType, inputs, 1, attrs, options)[0];
  }

  /** Adds a node with `count` outputs. */
  opN(opType: string, inputs: string[], count: number, attrs: Record<string, AttrValue> = {}, options: { domain?: string; name?: string } = {}): string[] {
    const base = options.name ?? opType.toLowerCase();
    const outputs = Array.from({ length: count }, (_, i) => this.name(count === 1 ? base : `${base}_out${i}`));
    this.nodes.push({
      opType,
      domain: options.domain ?? "",
      input: inputs,
      output: outputs,
      name: this.name(`n_${base}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** An int64 constant initializer (deduplicated by value). */
  int64(values: number[] | number, scalar = false): string {
    const list = Array.isArray(values) ? values : [values];
    const key = `i64:${scalar}:${list.join(",")}`;
    const cached = this.constants.get(key);
    if (cached) return cached;
    const name = this.name(`c_i64_${list.slice(0, 4).join("_").replace(/-/g, "m")}`);
    const bytes = new BigInt64Array(list.map((v) => BigInt(v)));
    this.initializers.push({ name, dataType: DataType.INT64, dims: scalar ? [] : [list.length], rawData: new Uint8Array(bytes.buffer) });
    this.constants.set(key, name);
    return name;
  }

  /** A float32 constant initializer (a scalar when `dims` is []). */
  float32(values: Float32Array | number[] | number, dims?: number[]): string {
    const data = values instanceof Float32Array ? values : new Float32Array(Array.isArray(values) ? values : [values]);
    const shape = dims ?? (typeof values === "number" ? [] : [data.length]);
    const key = data.length <= 8 ? `f32:${shape.join("x")}:${Array.from(data).join(",")}` : null;
    if (key && this.constants.has(key)) return this.constants.get(key)!;
    const name = this.name("c_f32");
    this.initializers.push({ name, dataType: DataType.FLOAT, dims: shape, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    if (key) this.constants.set(key, name);
    return name;
  }

  /** Serializes the model (opset 17 + com.microsoft 1). */
  serialize(graphName: string, docString = ""): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "expo-bot",
      producerVersion: "0.1.0",
      docString,
      opsetImport: [
        { domain: "", version: 17 },
        { domain: "com.microsoft", version: 1 },
      ],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  get nodeCount(): number {
    return this.nodes.length;
  }
}

function valueInfo(name: string, elemType: DataTypeId, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") return { name, type: T.INT, i: value };
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ("float" in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}
