/**
 * The picture for the card and the comment: mean reward (with its interval) and mean
 * answer length against α, α = 0 and the chosen α marked. Hand-written SVG; PNG via resvg
 * with the system fonts (no font is embedded; DejaVu Sans is asked for first).
 */
import { Resvg } from "@resvg/resvg-js";
import type { AlphaReport, SearchReport } from "./schema.js";
import { meanCI } from "./stats.js";

const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";
const W = 760;
const H = 584;
const M = { left: 78, right: 24 };
const PANELS = [
  { top: 56, bottom: 276 },
  { top: 336, bottom: 496 },
];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/** Rounded tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export interface PlotOptions {
  title?: string;
}

/** The SVG document for a search report. */
export function renderSvg(report: SearchReport, options: PlotOptions = {}): string {
  const alphas = [...report.alphas].sort((a, b) => a.alpha - b.alpha);
  const xs = alphas.map((a) => a.alpha);
  const maxAbs = Math.max(...xs.map(Math.abs), 0.1);
  // Symmetric log scale when α spans decades (0.1 … 10), linear otherwise.
  const symlog = maxAbs > 1.5;
  const c = 0.1;
  const tx = (a: number) => (symlog ? Math.sign(a) * Math.log1p(Math.abs(a) / c) : a);
  const tMin = Math.min(...xs.map(tx), 0);
  const tMax = Math.max(...xs.map(tx), tx(0.1));
  const pad = (tMax - tMin) * 0.06 || 0.1;
  const X = (a: number) => M.left + ((tx(a) - (tMin - pad)) / (tMax - tMin + 2 * pad)) * (W - M.left - M.right);

  const chosen = report.decision.kind === "alpha" ? report.decision.alpha : undefined;
  const level = report.statistics.level;
  const series = [
    {
      label: `mean reward (${Math.round(level * 100)} % CI)`,
      values: alphas.map((a) => ({ a, mean: a.reward.mean, lo: a.reward.lo ?? a.reward.mean, hi: a.reward.hi ?? a.reward.mean })),
    },
    {
      label: `mean answer length, tokens (${Math.round(level * 100)} % CI)`,
      values: alphas.map((a) => {
        const ci = meanCI(a.tokens, level);
        return { a, mean: a.meanTokens, lo: Number.isFinite(ci.lo) ? ci.lo : a.meanTokens, hi: Number.isFinite(ci.hi) ? ci.hi : a.meanTokens };
      }),
    },
  ];

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${esc(FONT)}" font-size="12">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title ?? `ExPO α search: reward and answer length against α${report.synthetic ? " (SYNTHETIC models)" : ""}`)}</text>`,
  );
  const d = report.decision;
  const r = d.kind === "alpha" ? d.reported : undefined;
  const decisionText =
    d.kind === "alpha"
      ? r && r.gain.lo !== null && r.gain.hi !== null
        ? `chosen α = ${fmt(d.alpha)}: gain ${fmt(r.gain.mean)} [${fmt(r.gain.lo)}, ${fmt(r.gain.hi)}] over α = 0 on ${r.n} ${r.source === "held-out" ? "held-out " : ""}prompts`
        : `chosen α = ${fmt(d.alpha)} (gain ${fmt(d.gain.mean)} over α = 0, significant)`
      : "decision: no gain — no α beats α = 0 significantly";
  parts.push(`<text x="${W / 2}" y="42" text-anchor="middle" font-size="12" fill="#444">${esc(decisionText)}</text>`);

  series.forEach((s, p) => {
    const { top, bottom } = PANELS[p];
    const lo = Math.min(...s.values.map((v) => v.lo));
    const hi = Math.max(...s.values.map((v) => v.hi));
    const span = hi - lo || Math.abs(hi) || 1;
    const yLo = lo - span * 0.08;
    const yHi = hi + span * 0.08;
    const Y = (v: number) => bottom - ((v - yLo) / (yHi - yLo)) * (bottom - top);
    // Frame, grid and y ticks.
    parts.push(`<rect x="${M.left}" y="${top}" width="${W - M.left - M.right}" height="${bottom - top}" fill="none" stroke="#888"/>`);
    for (const t of niceTicks(yLo, yHi)) {
      const y = Y(t).toFixed(1);
      parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      parts.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${esc(fmt(t))}</text>`);
    }
    const midY = (top + bottom) / 2;
    parts.push(`<text x="18" y="${midY}" text-anchor="middle" transform="rotate(-90 18 ${midY})" font-size="12">${esc(s.label)}</text>`);
    // α = 0 (θ1): a vertical guide and the baseline level.
    const x0 = X(0).toFixed(1);
    parts.push(`<line x1="${x0}" x2="${x0}" y1="${top}" y2="${bottom}" stroke="#555" stroke-dasharray="4 3"/>`);
    const base = s.values.find((v) => v.a.alpha === 0);
    if (base) parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${Y(base.mean).toFixed(1)}" y2="${Y(base.mean).toFixed(1)}" stroke="#999" stroke-dasharray="2 3"/>`);
    if (chosen !== undefined) {
      const xc = X(chosen).toFixed(1);
      parts.push(`<line x1="${xc}" x2="${xc}" y1="${top}" y2="${bottom}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 3"/>`);
    }
    // Connect the non-dropped points in α order.
    const line = s.values.filter((v) => v.a.status !== "dropped").map((v) => `${X(v.a.alpha).toFixed(1)},${Y(v.mean).toFixed(1)}`);
    if (line.length > 1) parts.push(`<polyline points="${line.join(" ")}" fill="none" stroke="#2c6fbb" stroke-width="1.5"/>`);
    for (const v of s.values) {
      const x = X(v.a.alpha);
      const color = v.a.alpha === chosen ? "#c0392b" : v.a.role === "baseline" ? "#222" : v.a.role === "sanity" ? "#8e44ad" : "#2c6fbb";
      parts.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${Y(v.lo).toFixed(1)}" y2="${Y(v.hi).toFixed(1)}" stroke="${color}" stroke-width="1.5"/>`);
      for (const yy of [v.lo, v.hi]) parts.push(`<line x1="${(x - 4).toFixed(1)}" x2="${(x + 4).toFixed(1)}" y1="${Y(yy).toFixed(1)}" y2="${Y(yy).toFixed(1)}" stroke="${color}" stroke-width="1.5"/>`);
      const y = Y(v.mean).toFixed(1);
      const fill = v.a.status === "dropped" ? "#ffffff" : color;
      if (v.a.role === "baseline") parts.push(`<rect x="${(x - 5).toFixed(1)}" y="${(Number(y) - 5).toFixed(1)}" width="10" height="10" fill="${fill}" stroke="${color}" transform="rotate(45 ${x.toFixed(1)} ${y})"/>`);
      else parts.push(`<circle cx="${x.toFixed(1)}" cy="${y}" r="${v.a.alpha === chosen ? 6 : 4}" fill="${fill}" stroke="${color}" stroke-width="1.5"/>`);
    }
    // Prompts per α along the top of the reward panel: an adaptive search gives α unequal n.
    if (p === 0) {
      let lastN = -Infinity;
      for (const v of s.values) {
        const x = X(v.a.alpha);
        if (x - lastN < 26) continue;
        parts.push(`<text x="${x.toFixed(1)}" y="${top + 11}" text-anchor="middle" font-size="9" fill="#666">${esc(String(v.a.n))}</text>`);
        lastN = x;
      }
    }
    // X ticks at the evaluated α values. Labels are thinned where they would collide, but
    // α = 0, the chosen α and both ends of the axis always keep theirs (the widest α is
    // what tells the reader how far the search went).
    const forced = new Set([0, chosen, xs[0], xs[xs.length - 1]].filter((a): a is number => a !== undefined && a !== null));
    const labelled = xs.filter((a) => forced.has(a)).map(X);
    for (const a of xs) {
      const x = X(a);
      parts.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${bottom}" y2="${bottom + 4}" stroke="#888"/>`);
      const show = forced.has(a) || labelled.every((lx) => Math.abs(x - lx) >= 26);
      if (!show) continue;
      if (!forced.has(a)) labelled.push(x);
      parts.push(`<text x="${x.toFixed(1)}" y="${bottom + 16}" text-anchor="middle" font-size="11"${a === chosen ? ' fill="#c0392b" font-weight="bold"' : ""}>${esc(fmt(a))}</text>`);
    }
  });
  const axisY = PANELS[1].bottom + 36;
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${axisY}" text-anchor="middle" font-size="12">${esc(`α (extrapolation strength${symlog ? ", symmetric log scale" : ""}); α = 0 is θ1, α = −0.5 halfway to θ0`)}</text>`);
  // Legend.
  const ly = H - 16;
  const legend: [string, string][] = [
    ["#222", "α = 0 (θ1)"],
    ["#2c6fbb", "candidate"],
    ["#c0392b", "chosen α"],
    ["#8e44ad", "α = −0.5 sanity check"],
  ];
  let lx = M.left;
  for (const [color, label] of legend) {
    parts.push(`<circle cx="${lx + 5}" cy="${ly - 4}" r="4" fill="${color}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly}" font-size="11">${esc(label)}</text>`);
    lx += 24 + label.length * 6.5;
  }
  parts.push(`<text x="${lx}" y="${ly}" font-size="11" fill="#666">hollow: dropped · top row: n prompts</text>`);
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}

/** Renders SVG to PNG with resvg, using the machine's fonts (DejaVu Sans preferred). */
export function renderPng(svg: string, options: { width?: number } = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "width", value: options.width ?? W * 2 },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    background: "#ffffff",
  });
  return resvg.render().asPng();
}

/** True when resvg finds a font to draw text with (renders a word and looks for ink). */
export function textRenders(): boolean {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="80" height="30"><rect width="80" height="30" fill="#fff"/><text x="4" y="22" font-family="${esc(FONT)}" font-size="20" fill="#000">Abc</text></svg>`;
  const img = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render();
  const px = img.pixels;
  for (let i = 0; i < px.length; i += 4) if (px[i] < 128) return true;
  return false;
}

export type { AlphaReport };
