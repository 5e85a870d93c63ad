/** ExPO extrapolation: plan (pure), streaming executor, and the `extrapolate` entry point. */
export { extrapolate, type ExtrapolateOptions, type ExtrapolationReport, type TensorReport } from "./extrapolate.js";
export { planExtrapolation, parseAlphaRule, parseAlpha, alphaFor, type AlphaRule, type ExtrapolationPlan, type TensorAction, type PlanOptions } from "./plan.js";
export { executePlan, type ExecuteOptions, type ExecuteProgress, type ExecuteResult } from "./executor.js";
export { referenceBits } from "./kernel.js";
export { extrapolateAdapter, type AdapterExtrapolateParams, type AdapterReport } from "./adapter/extrapolate-adapter.js";
export { planAdapter, type AdapterPlan } from "./adapter/plan.js";
