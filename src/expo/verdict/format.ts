/** The human-readable rendering of a Verdict: a headline, the reasons, a short table, the cost. */
import { formatBytes } from "../../util/progress.js";
import { formatCosine, formatNumber } from "./sample.js";
import type { ModelSummary, Verdict } from "./types.js";

const MARK = { refuse: "✗ refuse", warn: "! warn  ", info: "✓ ok    " } as const;

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}

function describeModel(m: ModelSummary): string {
  const where = m.kind === "hub" ? `${m.id}${m.sha ? ` @ ${m.sha.slice(0, 12)}` : ""}` : m.ref;
  return `${where}  (${m.shards} shard${m.shards === 1 ? "" : "s"}, ${m.tensors} tensors, ${m.parameters.toLocaleString("en-US")} parameters, ${formatBytes(m.dataBytes)})`;
}

export function formatVerdict(v: Verdict, options: { width?: number } = {}): string {
  const width = options.width ?? 100;
  const out: string[] = [];
  const headline = {
    pass: "PASS — θ1 looks trained from θ0; extrapolation can proceed.",
    warn: "WARN — the pair can be extrapolated, but read the warnings.",
    refuse: "REFUSE — this pair should not be extrapolated.",
  }[v.verdict];
  out.push(`expo-bot check: ${headline}`);
  out.push(`  θ0 (SFT)      ${describeModel(v.sft)}`);
  out.push(`  θ1 (aligned)  ${describeModel(v.aligned)}`);
  if (v.adapter) {
    const a = v.adapter;
    const scale = a.scale ? (a.scale.min === a.scale.max ? String(a.scale.min) : `${a.scale.min}–${a.scale.max}`) : "—";
    out.push(`  θ1 is a LoRA adapter: r = ${a.r ?? "?"}, lora_alpha = ${a.loraAlpha ?? "?"}${a.useRslora ? " (rsLoRA)" : ""}, s = ${scale}, ${a.modules} module(s), ${a.fullTensors} full tensor(s); base named: ${a.baseModel ?? "none"}`);
  }
  out.push("");
  out.push("Reasons:");
  for (const r of v.reasons) out.push(`  ${MARK[r.level]}  ${wrap(`${r.message} [${r.code}]`, width - 12, " ".repeat(12))}`);
  if (v.tensors.length > 0) {
    out.push("");
    out.push("Sampled tensors (relative distance = ‖θ1−θ0‖/‖θ0‖ on the sampled block):");
    const nameWidth = Math.min(48, Math.max(...v.tensors.map((t) => t.name.length), "overall".length));
    const cut = (s: string) => (s.length > nameWidth ? `…${s.slice(s.length - nameWidth + 1)}` : s);
    out.push(`  ${"tensor".padEnd(nameWidth)}  ${"kind".padEnd(9)}  ${"values".padStart(8)}  ${"rel. dist".padStart(9)}  ${"cosine".padStart(9)}`);
    for (const t of v.tensors) {
      out.push(`  ${cut(t.name).padEnd(nameWidth)}  ${t.kind.padEnd(9)}  ${String(t.elements).padStart(8)}  ${formatNumber(t.relativeDistance).padStart(9)}  ${formatCosine(t.cosine).padStart(9)}${t.decisive ? "" : "  (not decisive)"}`);
    }
    if (v.overall) out.push(`  ${"overall (weight matrices)".padEnd(nameWidth + 11)}  ${String(v.overall.elements).padStart(8)}  ${formatNumber(v.overall.relativeDistance).padStart(9)}  ${formatCosine(v.overall.cosine).padStart(9)}`);
  }
  out.push("");
  const u = v.usage;
  const per = (label: string, m: typeof u.sft, data: number) =>
    `${label} ${formatBytes(m.bytes)} in ${m.requests} request${m.requests === 1 ? "" : "s"} (${(m.fraction * 100).toFixed(3)} % of ${formatBytes(data)}; files ${formatBytes(m.files.bytes)}, headers ${formatBytes(m.headers.bytes)}, samples ${formatBytes(m.samples.bytes)})`;
  out.push(`Read ${formatBytes(u.bytes)} in ${u.requests} requests, ${(u.fraction * 100).toFixed(3)} % of the checkpoints, in ${(v.durationMs / 1000).toFixed(1)} s:`);
  out.push(`  ${per("θ0", u.sft, v.sft.dataBytes)}`);
  out.push(`  ${per("θ1", u.aligned, v.aligned.dataBytes)}`);
  return out.join("\n");
}
