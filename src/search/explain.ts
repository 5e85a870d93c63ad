/**
 * Plain-language pieces of a search report for where people read it (CLI, card, comments):
 * the per-α table with differences labelled as differences, and why the chosen α was chosen
 * when another α has the higher mean.
 */
import { alphaSummaryRows, type SearchReport } from "./schema.js";

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const signed = (x: number, d = 3) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(d);
const pct = (x: number) => `${Math.round(x * 100)} %`;

/** Why the decision's α is not the one with the highest mean reward, or null when it is (or there is none). */
export function whyChosen(report: SearchReport): string | null {
  const d = report.decision;
  if (d.kind !== "alpha") return null;
  const rows = alphaSummaryRows(report).filter((r) => r.alpha > 0 && !r.dropped);
  const top = rows.reduce<(typeof rows)[number] | undefined>((b, r) => (!b || r.reward > b.reward ? r : b), undefined);
  if (!top || top.alpha === d.alpha) return null;
  const vertex = report.strategy.rounds.map((r) => r.note?.match(/quadratic vertex at α≈([0-9.e+-]+)/)?.[1]).find(Boolean);
  const how = vertex
    ? `the search picks the finalist nearest the peak of a parabola fitted through the finalists' mean rewards (α≈${vertex}), which is less sensitive to noise than the single highest mean`
    : "the highest-mean α's gain over α = 0 is not significant after the correction for several α";
  return `α = ${d.alpha} was chosen although α = ${top.alpha} has the higher mean reward (${fmt(top.reward)} vs ${fmt(rows.find((r) => r.alpha === d.alpha)?.reward ?? NaN)}): ${how}.`;
}

/**
 * The decision in words, labelled for what it is: the selection's evidence. Its interval is
 * Bonferroni-adjusted when several α were tried, so it is wider than the table's CI of the
 * same difference; the line says so, and points to the published gain as the figure to quote.
 */
export function decisionText(report: SearchReport): string {
  const d = report.decision;
  if (d.kind !== "alpha") return `no gain: ${d.reason}`;
  const k = report.statistics.comparisons ?? 1;
  const quote = d.reported ? "; the published gain below is the figure to quote" : "";
  const note = k > 1 ? ` — the selection's evidence: this interval allows for choosing among ${k} α, so it is wider than the table's ${pct(report.statistics.level)} CI for α = ${d.alpha}${quote}` : quote ? ` — the selection's evidence${quote}` : "";
  return `chosen α = ${d.alpha}: ${d.reason}${note}`;
}

/** The per-α table as aligned text (the CLI's output). */
export function alphaTableText(report: SearchReport): string {
  const level = pct(report.statistics.level);
  const chosen = report.decision.kind === "alpha" ? report.decision.alpha : null;
  // Each row's interval is that α's own (uncorrected) CI; the decision line states the
  // corrected interval it used, so the two are never mistaken for one claim.
  const head = ["α", "n", "mean reward", `Δ reward vs α=0 [${level} CI, this α alone]`, "win rate", "mean tokens", "cut at max", ""];
  const body = alphaSummaryRows(report).map((r) => [
    String(r.alpha),
    String(r.n),
    fmt(r.reward),
    r.alpha === 0 ? "(baseline: θ1)" : `${signed(r.delta)} [${signed(r.ci[0])}, ${signed(r.ci[1])}]`,
    r.alpha === 0 ? "" : pct(r.winRate),
    fmt(r.meanLength, 1),
    r.truncated === null || r.truncated === undefined ? "—" : pct(r.truncated),
    [r.alpha === chosen ? "← chosen" : "", r.dropped ? "dropped" : "", r.lengthFlag ? "longer answers" : ""].filter(Boolean).join(", "),
  ]);
  if (report.sanity) {
    const g = report.sanity.gain;
    body.push([String(report.sanity.alpha), String(report.sanity.n), "", `${signed(g.mean)} [${g.lo === null ? "—" : signed(g.lo)}, ${g.hi === null ? "—" : signed(g.hi)}]`, "", "", "", "sanity check (towards θ0)"]);
  }
  const rows = [head, ...body];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/**
 * The gain a reader may quote: the chosen α's gain measured on prompts that played no part in
 * choosing it (search.json v2 `decision.reported`), with the length change beside it and the
 * gain at equal length. Null when there is no chosen α or the report predates v2.
 */
export function publishedGainText(report: SearchReport): string | null {
  const d = report.decision;
  if (d.kind !== "alpha" || !d.reported) return null;
  const r = d.reported;
  const iv = (g: { mean: number; lo: number | null; hi: number | null }) =>
    `${signed(g.mean)} [${g.lo === null ? "—" : signed(g.lo)}, ${g.hi === null ? "—" : signed(g.hi)}]`;
  const where = r.source === "held-out" ? `${r.n} held-out prompts` : `${r.n} prompts (the same that chose α: biased upward)`;
  const longer = Math.round((r.lengthRatio - 1) * 100);
  return (
    `published gain (Δ reward vs α=0, ${pct(report.statistics.level)} CI) on ${where}: ${iv(r.gain)}; ` +
    `answers ${longer >= 0 ? `${longer} % longer` : `${-longer} % shorter`}; at equal length ${iv(r.lengthControlled)}` +
    (r.lengthControlledSignificant ? "" : " (not significant: the gain may be length)")
  );
}
