/** `expo-bot inspect PATH [--json]`: the tensors of a safetensors file or model folder, and whether it is valid. */
import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { looksLikeRepoRef } from "../hub/repo-ref.js";
import { resolveModelArg } from "./model-ref.js";
import { openModelWeights } from "../checkpoint/weights.js";
import { DTYPE_BYTES, type Dtype } from "../safetensors/dtype.js";
import { openSafetensorsFile } from "../safetensors/reader.js";
import { UserError, errorMessage } from "../util/errors.js";
import { formatBytes } from "../util/progress.js";
import { parseCommandArgs } from "../util/args.js";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes.js";

export const USAGE = `Usage: expo-bot inspect PATH|owner/name[@revision] [--json]

Lists the tensors of a .safetensors file or a model folder (model.safetensors or a sharded
index), with dtypes and the parameter count, and validates every header against the
safetensors rules (including that every file is as long as its header says). Exits 2 (bad
input) when PATH is not valid.

${EXIT_CODES_HELP}`;

export interface InspectReport {
  path: string;
  kind: "file" | "folder";
  valid: boolean;
  error?: string;
  files: string[];
  tensors: { name: string; dtype: Dtype; shape: number[]; file: string }[];
  dtypes: Partial<Record<Dtype, { tensors: number; parameters: number }>>;
  parameters: number;
  bytes: number;
}

export async function inspectPath(path: string): Promise<InspectReport> {
  let kind: "file" | "folder";
  try {
    kind = (await stat(path)).isDirectory() ? "folder" : "file";
  } catch {
    throw new UserError(`${path}: no such file or folder`);
  }
  const report: InspectReport = { path, kind, valid: false, files: [], tensors: [], dtypes: {}, parameters: 0, bytes: 0 };
  try {
    if (kind === "file") {
      const f = await openSafetensorsFile(path);
      try {
        report.files = [path];
        for (const [name, info] of f.header.tensors) report.tensors.push({ name, dtype: info.dtype, shape: info.shape, file: path });
      } finally {
        await f.close();
      }
    } else {
      const w = await openModelWeights(path);
      try {
        report.files = w.files.map((f) => f.name);
        for (const [name, { file, info }] of w.tensors) report.tensors.push({ name, dtype: info.dtype, shape: info.shape, file: file.name });
      } finally {
        await w.close();
      }
    }
    report.valid = true;
  } catch (err) {
    report.error = errorMessage(err);
  }
  report.tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const t of report.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    report.parameters += n;
    report.bytes += n * DTYPE_BYTES[t.dtype];
    const d = (report.dtypes[t.dtype] ??= { tensors: 0, parameters: 0 });
    d.tensors++;
    d.parameters += n;
  }
  return report;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ argv, allowPositionals: true, options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UserError(`expected one PATH, got ${positionals.length}\n\n${USAGE}`);
  // A Hub id is inspected from its cached download, like every other model argument.
  const given = positionals[0]!;
  const path = existsSync(given) || !looksLikeRepoRef(given) ? given : (await resolveModelArg({ value: given, flag: "PATH", progress: true })).dir;
  const report = await inspectPath(path);
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const lines = [`${report.path} (${report.kind}, ${report.files.length} safetensors file(s))`];
    const width = Math.max(4, ...report.tensors.map((t) => t.name.length));
    for (const t of report.tensors) lines.push(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(7)} [${t.shape.join(", ")}]`);
    const dtypes = Object.entries(report.dtypes).map(([d, v]) => `${d} ${v!.tensors} tensor(s)`).join(", ");
    lines.push(`${report.tensors.length} tensors, ${report.parameters.toLocaleString("en-US")} parameters, ${formatBytes(report.bytes)}${dtypes ? ` (${dtypes})` : ""}`);
    lines.push(report.valid ? "valid: yes" : `valid: NO — ${report.error}`);
    console.log(lines.join("\n"));
  }
  return report.valid ? EXIT.ok : EXIT.badInput;
}
