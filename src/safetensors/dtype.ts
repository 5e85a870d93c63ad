/**
 * The dtypes the reference implementation (huggingface/safetensors, `Dtype`) knows,
 * with their sizes. Sub-byte formats (F4, F6_*) are not accepted: no checkpoint this
 * project reads uses them, and refusing is safer than misreading.
 */
export type Dtype =
  | "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0"
  | "I16" | "U16" | "F16" | "BF16"
  | "I32" | "U32" | "F32"
  | "F64" | "I64" | "U64";

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = Object.freeze({
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
});

/** Dtypes this project does arithmetic on; everything else is copied unchanged. */
export type FloatDtype = "BF16" | "F16" | "F32" | "F64";
export const FLOAT_DTYPES: readonly FloatDtype[] = ["BF16", "F16", "F32", "F64"];

export function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

export function isFloatDtype(value: unknown): value is FloatDtype {
  return value === "BF16" || value === "F16" || value === "F32" || value === "F64";
}

/** config.json's `torch_dtype` / `dtype` spelling of a float dtype. */
export function torchDtypeName(dtype: FloatDtype): string {
  return { BF16: "bfloat16", F16: "float16", F32: "float32", F64: "float64" }[dtype];
}

export function parseFloatDtype(text: string): FloatDtype {
  const t = text.trim().toLowerCase();
  const map: Record<string, FloatDtype> = {
    bf16: "BF16", bfloat16: "BF16", f16: "F16", fp16: "F16", float16: "F16", half: "F16",
    f32: "F32", fp32: "F32", float32: "F32", float: "F32", f64: "F64", fp64: "F64", float64: "F64", double: "F64",
  };
  const dtype = map[t];
  if (!dtype) throw new Error(`unknown float dtype "${text}" (expected bf16, f16, f32 or f64)`);
  return dtype;
}
