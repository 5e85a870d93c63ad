/**
 * The update s·B·A of a LoRA adapter's modules (adapter.ts) against θ0, shared by every
 * consumer that needs it — the merged folder (src/expo/adapter), the check's weight sample
 * (src/expo/verdict) and the embedded engine's in-place α (src/inference/weight-store.ts) —
 * so the numerics are one: B and A decoded to double, Σ_k B[i,k]·A[k,j] summed over k
 * ascending from 0 in double, then θ0 + f·that with f = (1 + α)·s, rounded once by the caller.
 */
import type { LoraAdapter, LoraModule } from "./adapter.js";
import { ModelWeights } from "./weights.js";
import { decodeFloats } from "../safetensors/codec.js";
import { isFloatDtype, type FloatDtype } from "../safetensors/dtype.js";

/** A module that fits θ0, with θ0's dtype of its base tensor. */
export interface FittedLoraModule extends LoraModule {
  baseDtype: FloatDtype;
}

/**
 * Every module's base tensor `<module>.weight` must be in θ0 as a float [out, in] matrix
 * matching lora_B [out, r] · lora_A [r, in], and every full tensor's name must be in θ0. The
 * problems say, per module or tensor, why not: an adapter made for another base model.
 */
export function fitLoraModules(theta0: ReadonlyMap<string, { dtype: string; shape: readonly number[] }>, adapter: Pick<LoraAdapter, "modules" | "full">): { modules: FittedLoraModule[]; problems: string[] } {
  const problems: string[] = [];
  const fitted: FittedLoraModule[] = [];
  for (const m of adapter.modules) {
    const h0 = theta0.get(m.baseTensor);
    if (!h0) {
      problems.push(`θ0 has no "${m.baseTensor}" for the adapter's module "${m.module}"`);
      continue;
    }
    if (!isFloatDtype(h0.dtype)) {
      problems.push(`θ0's "${m.baseTensor}" is ${h0.dtype}, not a float tensor`);
      continue;
    }
    if (h0.shape.length !== 2 || h0.shape[0] !== m.outFeatures || h0.shape[1] !== m.inFeatures) {
      problems.push(`"${m.module}": θ0's weight is [${h0.shape.join(", ")}] but lora_B·lora_A is [${m.outFeatures}, ${m.inFeatures}]`);
      continue;
    }
    fitted.push({ ...m, baseDtype: h0.dtype });
  }
  for (const f of adapter.full) if (!theta0.has(f.baseTensor)) problems.push(`θ0 has no "${f.baseTensor}" for the adapter's full tensor "${f.key}"`);
  return { modules: fitted, problems };
}

/** The update's two factors in double precision: A [r, in] and B [out, r], row-major. */
export async function loraFactors(adapter: ModelWeights, m: Pick<LoraModule, "a" | "b">): Promise<{ a: Float64Array; b: Float64Array }> {
  const read = async (name: string) => {
    const { info } = adapter.get(name);
    return decodeFloats(info.dtype as FloatDtype, await adapter.readBytes(name));
  };
  return { a: await read(m.a), b: await read(m.b) };
}

/**
 * Rows [row0, row1) of Σ_k B[i,k]·A[k,j] into `out` (length (row1 − row0)·in). Each element
 * is one float64 sum over k ascending, starting from 0 (the order of the naive triple loop, so
 * the bits are the reference's); four k per pass over the row, which keeps that order.
 */
export function loraRows(a: Float64Array, b: Float64Array, rank: number, inF: number, row0: number, row1: number, out: Float64Array): void {
  for (let i = row0; i < row1; i++) {
    const o = (i - row0) * inF;
    out.fill(0, o, o + inF);
    let k = 0;
    for (; k + 4 <= rank; k += 4) {
      const b0 = b[i * rank + k], b1 = b[i * rank + k + 1], b2 = b[i * rank + k + 2], b3 = b[i * rank + k + 3];
      const a0 = k * inF, a1 = a0 + inF, a2 = a1 + inF, a3 = a2 + inF;
      for (let j = 0; j < inF; j++) out[o + j] = out[o + j] + b0 * a[a0 + j] + b1 * a[a1 + j] + b2 * a[a2 + j] + b3 * a[a3 + j];
    }
    for (; k < rank; k++) {
      const bk = b[i * rank + k], ak = k * inF;
      for (let j = 0; j < inF; j++) out[o + j] += bk * a[ak + j];
    }
  }
}

/**
 * θ1's tensors as a name → location map, for code that reads θ1 by θ0's names: θ0's own
 * locations (the very objects, so "unchanged from θ0" is an identity test) with each of the
 * adapter's full tensors (`modules_to_save`, a resized embedding) in place of θ0's. The LoRA
 * modules' weights are θ0's here; their update is the caller's (lora_A/lora_B). Owns no file.
 */
export function adapterTensorView(theta0: ModelWeights, adapter: LoraAdapter): ModelWeights {
  const tensors = new Map(theta0.tensors);
  for (const f of adapter.full) tensors.set(f.baseTensor, adapter.weights.get(f.key));
  return new ModelWeights(adapter.name, [], tensors, null);
}

/**
 * The vocabulary size of θ1 when the adapter's full embedding or head has more rows than θ0's
 * (a fine-tune that added tokens), else null: the merged model's `vocab_size`.
 */
export function grownVocabulary(theta0: ReadonlyMap<string, { shape: readonly number[] }>, adapter: Pick<LoraAdapter, "full" | "weights">): number | null {
  let rows: number | null = null;
  for (const f of adapter.full) {
    if (!/(^|\.)(embed_tokens|lm_head)\.weight$/.test(f.baseTensor)) continue;
    const r1 = adapter.weights.get(f.key).info.shape[0];
    const r0 = theta0.get(f.baseTensor)?.shape[0];
    if (r0 !== undefined && r1 > r0) rows = Math.max(rows ?? 0, r1);
  }
  return rows;
}
