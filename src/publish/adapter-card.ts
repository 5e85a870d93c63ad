/**
 * The parts of a published card that differ when θ1 — and so the output — is a PEFT LoRA
 * adapter: metadata (`base_model: θ0`, `base_model_relation: adapter`, `library_name: peft`,
 * tags `expo` + `lora`), the adapter section (templates/model-card-adapter.md.hbs) and a
 * `peft` usage snippet. Kept apart from card.ts so the full-model card stays as it is.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { renderTemplate } from "./templates.js";

export interface AdapterCardInfo {
  r: number;
  loraAlpha: { theta1: number; output: number };
  useRslora: boolean;
  hasAlphaPattern: boolean;
  /** 1 + α. */
  factor: number;
  modules: number;
  fullTensors: number;
  /** s of θ1 (the most common module's: r and lora_alpha). */
  scaleTheta1: number;
  /** The output folder ships a tokenizer (else the snippet loads θ0's). */
  hasTokenizer: boolean;
}

/** The adapter facts of an output folder written by `extrapolate` (null for a full model). */
export async function readAdapterCardInfo(dir: string): Promise<AdapterCardInfo | null> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
  } catch {
    return null;
  }
  const provenance = JSON.parse(await readFile(join(dir, "expo_provenance.json"), "utf8").catch(() => "{}")) as { adapter?: { factor?: number; modules?: number; fullTensors?: number; loraAlpha?: { theta1?: number } } };
  const a = provenance.adapter ?? {};
  const r = Number(config.r);
  const output = Number(config.lora_alpha);
  const factor = typeof a.factor === "number" ? a.factor : 1;
  const theta1 = typeof a.loraAlpha?.theta1 === "number" ? a.loraAlpha.theta1 : output / factor;
  const useRslora = config.use_rslora === true;
  const hasTokenizer = await readFile(join(dir, "tokenizer.json")).then(() => true, () => false);
  return {
    r,
    loraAlpha: { theta1, output },
    useRslora,
    hasAlphaPattern: !!config.alpha_pattern && typeof config.alpha_pattern === "object" && Object.keys(config.alpha_pattern).length > 0,
    factor,
    modules: a.modules ?? 0,
    fullTensors: a.fullTensors ?? 0,
    scaleTheta1: useRslora ? theta1 / Math.sqrt(r) : theta1 / r,
    hasTokenizer,
  };
}

export function adapterCardMetadata(theta0: string, extraTags: readonly string[]): Record<string, unknown> {
  return { base_model: theta0, base_model_relation: "adapter", library_name: "peft", tags: ["expo", "lora", "expo-bot", ...extraTags] };
}

export function adapterSectionMd(info: AdapterCardInfo, theta0: { id: string; url: string }): string {
  return renderTemplate("model-card-adapter", {
    ...info,
    loraAlphaTheta1: info.loraAlpha.theta1,
    loraAlphaOutput: info.loraAlpha.output,
    theta0Id: theta0.id,
    theta0Url: theta0.url,
  });
}

/** A peft snippet: θ0 from its repo, the adapter on top. Ids were validated by assertRepoId (safe in a Python string). */
export function peftUsageSnippet(repoId: string, theta0: string, info: AdapterCardInfo): string {
  return [
    "```python",
    "from peft import PeftModel",
    "from transformers import AutoModelForCausalLM, AutoTokenizer",
    "",
    `base = AutoModelForCausalLM.from_pretrained(${JSON.stringify(theta0)}, torch_dtype="auto", device_map="auto")`,
    `model = PeftModel.from_pretrained(base, ${JSON.stringify(repoId)})`,
    `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(info.hasTokenizer ? repoId : theta0)})`,
    "# model = model.merge_and_unload()  # optional: one full model, no adapter at inference",
    "",
    'messages = [{"role": "user", "content": "Explain model extrapolation in one paragraph."}]',
    'inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt").to(model.device)',
    "outputs = model.generate(inputs, max_new_tokens=256)",
    "print(tokenizer.decode(outputs[0][inputs.shape[-1]:], skip_special_tokens=True))",
    "```",
  ].join("\n");
}
