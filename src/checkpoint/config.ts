/** config.json of a transformers model folder: the fields this project reads, validated. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.js";

export interface RopeScaling {
  rope_type?: string;
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

export interface ModelConfig {
  architectures?: string[];
  model_type?: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  rope_scaling?: RopeScaling | null;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
  sliding_window?: number | null;
  use_sliding_window?: boolean;
  torch_dtype?: string;
  dtype?: string;
  num_labels?: number;
  pad_token_id?: number | null;
  bos_token_id?: number | number[] | null;
  eos_token_id?: number | number[] | null;
  attention_bias?: boolean;
  [key: string]: unknown;
}

const REQUIRED_INTEGERS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"] as const;

/** A JSON file's text that must hold an object; errors name `source`. */
export function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${source}: not a JSON object`);
  return raw as Record<string, unknown>;
}

export function parseModelConfig(text: string, source: string): ModelConfig {
  const config = parseJsonObject(text, source) as ModelConfig;
  for (const key of REQUIRED_INTEGERS) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new UserError(`${source}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return config;
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UserError(`${path}: not found (is "${dir}" a model folder?)`);
    throw err;
  }
  return parseModelConfig(text, path);
}

/** Head dimension: explicit `head_dim`, else hidden_size / num_attention_heads. */
export function headDim(config: ModelConfig): number {
  return config.head_dim ?? config.hidden_size / config.num_attention_heads;
}

export function kvHeads(config: ModelConfig): number {
  return config.num_key_value_heads ?? config.num_attention_heads;
}
