/**
 * The published gain, the sanity check and the per-row extras (n, dropped, truncation) as
 * template views: the card and the comments say the same things in the same words.
 */
import type { AlphaRow, ReportedGainView, SanityView } from "./types.js";

export function reportedGainView(r: ReportedGainView | undefined) {
  if (!r) return null;
  return {
    ...r,
    heldOut: r.source === "held-out",
    hasCi: r.deltaCi !== undefined,
    lo: r.deltaCi?.[0] ?? null,
    hi: r.deltaCi?.[1] ?? null,
    lengthChangePct: (r.lengthRatio - 1) * 100,
    hasLcCi: r.lengthControlledCi !== undefined,
    lcLo: r.lengthControlledCi?.[0] ?? null,
    lcHi: r.lengthControlledCi?.[1] ?? null,
    truncatedAlpha: r.truncated?.alpha ?? null,
    truncatedBaseline: r.truncated?.baseline ?? null,
    hasTruncated: typeof r.truncated?.alpha === "number" && typeof r.truncated?.baseline === "number",
  };
}

export function sanityView(s: SanityView | undefined) {
  if (!s) return null;
  return { ...s, hasCi: s.deltaCi !== undefined, lo: s.deltaCi?.[0] ?? null, hi: s.deltaCi?.[1] ?? null };
}

/** Row extras shared by the card and comment tables. */
export function rowExtras(r: AlphaRow) {
  return { hasN: typeof r.n === "number", hasTruncated: typeof r.truncated === "number" };
}
