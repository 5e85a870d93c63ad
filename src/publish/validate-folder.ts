/**
 * What `publish` checks in the folder before anything is uploaded: it is a complete model
 * (config.json, weights, a tokenizer) or a complete adapter (adapter_config.json and its
 * weights), and every safetensors file in it passes the same validation as `expo-bot inspect`
 * (header rules, and data ending exactly at the end of the file, so a truncated copy is caught).
 * Every problem is reported at once.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { openModelWeights } from "../checkpoint/weights.js";
import { openSafetensorsFile } from "../safetensors/reader.js";
import { UserError, errorMessage } from "../util/errors.js";
import { listModelFolder } from "./files.js";

export interface FolderValidation {
  kind: "model" | "adapter";
  /** Safetensors files checked. */
  safetensors: string[];
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer.model.v3", "spiece.model"];

export async function validatePublishFolder(dir: string, flag = "--model"): Promise<FolderValidation> {
  const s = await stat(dir).catch(() => null);
  if (!s?.isDirectory()) throw new UserError(`${flag} ${dir}: not a folder`);
  const files = (await listModelFolder(dir)).map((f) => f.path);
  const has = (name: string) => files.includes(name);
  const problems: string[] = [];
  const kind = has("adapter_config.json") && !has("config.json") ? "adapter" : "model";
  if (kind === "adapter") {
    if (!has("adapter_model.safetensors")) problems.push("adapter_config.json without adapter_model.safetensors");
  } else {
    if (!has("config.json")) problems.push("no config.json");
    if (!has("model.safetensors") && !has("model.safetensors.index.json")) problems.push("no weights (model.safetensors or model.safetensors.index.json)");
    if (!TOKENIZER_FILES.some(has)) problems.push(`no tokenizer (${TOKENIZER_FILES.slice(0, 2).join(" or ")})`);
  }
  const safetensors = files.filter((f) => f.endsWith(".safetensors"));
  for (const name of safetensors) {
    try {
      await (await openSafetensorsFile(join(dir, name))).close();
    } catch (err) {
      problems.push(`${name}: ${errorMessage(err).replace(`${join(dir, name)}: `, "")}`);
    }
  }
  // A sharded index must name shards that exist and agree with it.
  if (kind === "model" && has("model.safetensors.index.json") && problems.length === 0) {
    try {
      await (await openModelWeights(dir)).close();
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  if (problems.length > 0) {
    throw new UserError(`${flag} ${dir} is not a complete, valid ${kind} folder; nothing was uploaded:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return { kind, safetensors };
}
