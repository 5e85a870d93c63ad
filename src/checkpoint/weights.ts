/**
 * The weights of a model folder as one name → tensor map, whether they are one
 * `model.safetensors` or shards listed by `model.safetensors.index.json`. Files are reached
 * through an opener, so the same code reads a local folder or a Hub repo (src/hub supplies
 * an HTTP range ByteSource).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { FileByteSource, type ByteSource } from "../safetensors/byte-source.js";
import { decodeFloatsInto } from "../safetensors/codec.js";
import { isFloatDtype } from "../safetensors/dtype.js";
import type { TensorInfo } from "../safetensors/header.js";
import { openSafetensors, type SafetensorsFile } from "../safetensors/reader.js";
import { INDEX_FILE, parseShardIndex, SINGLE_FILE, type ShardIndex } from "../safetensors/shard-index.js";
import { UserError } from "../util/errors.js";

export interface WeightLocation {
  file: SafetensorsFile;
  info: TensorInfo;
}

export class ModelWeights {
  constructor(
    /** For messages: the folder or repo. */
    readonly name: string,
    readonly files: SafetensorsFile[],
    readonly tensors: Map<string, WeightLocation>,
    readonly index: ShardIndex | null,
  ) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): WeightLocation {
    const loc = this.tensors.get(name);
    if (!loc) throw new UserError(`${this.name}: no tensor named "${name}"`);
    return loc;
  }

  /** Raw little-endian bytes of a tensor. */
  readBytes(name: string): Promise<Uint8Array> {
    const { file } = this.get(name);
    return file.readTensor(name);
  }

  /** A float tensor decoded to float32 (exact for bf16/f16/f32; f64 is rounded). */
  async readFloat32(name: string): Promise<Float32Array> {
    const { info } = this.get(name);
    if (!isFloatDtype(info.dtype)) throw new UserError(`${this.name}: tensor "${name}" is ${info.dtype}, not a float tensor`);
    const bytes = await this.readBytes(name);
    const out = new Float32Array(bytes.byteLength / { BF16: 2, F16: 2, F32: 4, F64: 8 }[info.dtype]);
    decodeFloatsInto(info.dtype, bytes, out);
    return out;
  }

  /** Total bytes of tensor data, as `metadata.total_size` counts them. */
  totalBytes(): number {
    return this.files.reduce((sum, f) => sum + f.header.dataBytes, 0);
  }

  parameterCount(): number {
    let n = 0;
    for (const { info } of this.tensors.values()) n += info.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

export interface WeightFileAccess {
  name: string;
  /** Text of a small file, or null when it does not exist. */
  readText(file: string): Promise<string | null>;
  /** Does the file exist? */
  exists(file: string): Promise<boolean>;
  open(file: string): ByteSource;
}

/** Opens the weights through any file access (local folder, Hub repo). */
export async function openModelWeightsFrom(access: WeightFileAccess): Promise<ModelWeights> {
  const indexText = await access.readText(INDEX_FILE);
  let index: ShardIndex | null = null;
  let shardNames: string[];
  if (indexText !== null) {
    index = parseShardIndex(indexText, `${access.name}/${INDEX_FILE}`);
    shardNames = [...new Set(index.weightMap.values())].sort();
  } else if (await access.exists(SINGLE_FILE)) {
    shardNames = [SINGLE_FILE];
  } else {
    throw new UserError(`${access.name}: no ${SINGLE_FILE} or ${INDEX_FILE} found (only safetensors weights are supported)`);
  }
  const files: SafetensorsFile[] = [];
  const tensors = new Map<string, WeightLocation>();
  try {
    for (const shard of shardNames) {
      const source = access.open(shard);
      let file: SafetensorsFile;
      try {
        file = await openSafetensors(source);
      } catch (err) {
        await source.close();
        throw err;
      }
      files.push(file);
      for (const [name, info] of file.header.tensors) {
        if (tensors.has(name)) throw new UserError(`${access.name}: tensor "${name}" appears in both ${tensors.get(name)!.file.name} and ${shard}`);
        if (index && index.weightMap.get(name) !== shard) throw new UserError(`${access.name}: tensor "${name}" is in ${shard} but ${INDEX_FILE} says ${index.weightMap.get(name) ?? "nothing"}`);
        tensors.set(name, { file, info });
      }
    }
    if (index) {
      for (const [name, shard] of index.weightMap) {
        if (!tensors.has(name)) throw new UserError(`${access.name}: ${INDEX_FILE} lists "${name}" in ${shard}, but that shard has no such tensor`);
      }
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
  return new ModelWeights(access.name, files, tensors, index);
}

export function localFolderAccess(dir: string): WeightFileAccess {
  return {
    name: dir,
    async readText(file) {
      try {
        return await readFile(join(dir, file), "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    },
    async exists(file) {
      try {
        return (await stat(join(dir, file))).isFile();
      } catch {
        return false;
      }
    },
    open: (file) => new FileByteSource(join(dir, file)),
  };
}

export function openModelWeights(dir: string): Promise<ModelWeights> {
  return openModelWeightsFrom(localFolderAccess(dir));
}
