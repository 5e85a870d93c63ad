/**
 * The plan for a LoRA adapter θ1 against θ0's tensor headers: pure, nothing read.
 *
 * - every LoRA module's base tensor `<module>.weight` must exist in θ0 as a float [out, in]
 *   matrix matching lora_B [out, r] · lora_A [r, in];
 * - every full tensor (`modules_to_save`, resized embeddings) is planned exactly as for full
 *   models (src/expo/plan.ts: α rules, vocabulary growth, dtype), against θ0's tensor of the
 *   same name;
 * - an adapter whose modules are not in θ0 or do not fit it was made for another base: the
 *   error lists every mismatch.
 */
import type { LoraAdapter } from "../../checkpoint/adapter.js";
import { fitLoraModules, type FittedLoraModule } from "../../checkpoint/lora-update.js";
import type { FloatDtype } from "../../safetensors/dtype.js";
import { UserError } from "../../util/errors.js";
import { planExtrapolation, type AlphaRule, type ExtrapolationPlan, type TensorHeader } from "../plan.js";

/** A module that fits θ0, with θ0's dtype of its base tensor. */
export type AdapterModulePlan = FittedLoraModule;

export interface AdapterPlan {
  alpha: number;
  /** 1 + α: what every module's s is multiplied by. */
  factor: number;
  modules: AdapterModulePlan[];
  /** The full tensors, planned as for full models (keyed by θ0's names). */
  full: ExtrapolationPlan;
  /** Adapter key of each full tensor, by θ0 name. */
  fullKeys: Map<string, string>;
  notes: string[];
}

function listed(items: string[], max = 20): string {
  return items.slice(0, max).join("\n  - ") + (items.length > max ? `\n  - … (${items.length} in all)` : "");
}

export function planAdapter(theta0: ReadonlyMap<string, TensorHeader>, adapter: Pick<LoraAdapter, "modules" | "full" | "weights" | "name">, options: { alpha: number; rules?: readonly AlphaRule[]; dtype?: FloatDtype }): AdapterPlan {
  const { modules, problems } = fitLoraModules(theta0, adapter);
  const fullKeys = new Map(adapter.full.map((f) => [f.baseTensor, f.key]));
  if (problems.length) {
    throw new UserError(`the adapter ${adapter.name} does not fit θ0 (was it made for another base model?):\n  - ${listed(problems)}`, { exitCode: 3 });
  }
  // Full tensors: the same rules as full models, on the subset of names the adapter saved.
  const sub0 = new Map<string, TensorHeader>();
  const sub1 = new Map<string, TensorHeader>();
  for (const f of adapter.full) {
    sub0.set(f.baseTensor, theta0.get(f.baseTensor)!);
    const info = adapter.weights.get(f.key).info;
    sub1.set(f.baseTensor, { dtype: info.dtype, shape: info.shape });
  }
  const full = planExtrapolation(sub0, sub1, { alpha: options.alpha, rules: options.rules, dtype: options.dtype });
  const notes = [...full.notes];
  if (options.rules?.length) notes.push("α rules apply to the adapter's full tensors only; LoRA modules all take the global α (their update is one scale)");
  return { alpha: options.alpha, factor: 1 + options.alpha, modules, full, fullKeys, notes };
}
