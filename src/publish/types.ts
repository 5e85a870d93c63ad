/**
 * The data the publish stage renders and pushes. The α search (src/search) writes
 * `search.json`; `readSearchReport` (report.ts) normalizes it into `SearchSummary`, the
 * minimal view this module needs, so that the card and the comments do not depend on every
 * field of the search's own schema.
 */

/** One model on the Hub at one commit. */
export interface SourceModel {
  /** `owner/name` */
  id: string;
  /** Commit sha (or a branch name when the sha is unknown). */
  revision: string;
}

/** One row of the α table. */
export interface AlphaRow {
  alpha: number;
  meanReward: number;
  /** 95 % confidence interval of the mean reward. */
  rewardCi?: [number, number];
  /** Mean paired reward difference versus α = 0 (0 for the α = 0 row). */
  delta: number;
  /** 95 % confidence interval of `delta`; absent for the α = 0 row. */
  deltaCi?: [number, number];
  /** Fraction of prompts where this α's answer out-scored α = 0's (ties count half), 0–1. */
  winRate?: number;
  meanLength?: number;
  /** Number of prompts scored. */
  n?: number;
  /** Left the race early (adaptive strategies): its statistics cover fewer prompts. */
  dropped?: boolean;
  /** The search flagged a gain that comes with much longer answers. */
  lengthFlag?: boolean;
  /** Share of this α's answers cut at the token limit (0–1), when the generator said. */
  truncated?: number;
}

/** The chosen α's gain as published: measured on prompts that did not choose α (src/search/reported.ts). */
export interface ReportedGainView {
  /** "held-out": prompts kept out of the selection; "all-prompts": nothing was selected (one pinned α). */
  source: "held-out" | "all-prompts";
  n: number;
  delta: number;
  deltaCi?: [number, number];
  winRate: number;
  /** mean length(α) / mean length(α = 0) on those prompts. */
  lengthRatio: number;
  /** Gain at equal length, with its interval. */
  lengthControlled: number;
  lengthControlledCi?: [number, number];
  lengthControlledSignificant: boolean;
  /** Share of answers cut at the token limit at the chosen α and at α = 0, when known. */
  truncated?: { alpha: number | null; baseline: number | null };
}

/** The α = −0.5 interpolation sanity check (paper Fig. 1): expected to score below θ1. */
export interface SanityView {
  alpha: number;
  n: number;
  delta: number;
  deltaCi?: [number, number];
  passed: boolean;
  note: string;
}

export interface SearchSummary {
  /** The strategy that chose α (e.g. "grid", "golden-section", "pinned"). */
  strategy: string;
  rows: AlphaRow[];
  /** The chosen α, or null when no α beat α = 0 with confidence ("no gain"). */
  chosenAlpha: number | null;
  /** True when α was pinned by the request (`expo-alpha:` tag): no search, still reported. */
  pinned: boolean;
  /** Plot files written next to search.json (names only). */
  plots: { svg?: string; png?: string };
  /** The reward model that scored the answers, when known. */
  rewardModel?: string;
  /** The prompt set, when known. */
  prompts?: string;
  /** Unit of `meanLength` ("tokens" unless the report says otherwise). */
  lengthUnit: string;
  /** Confidence level of the intervals (0.95 unless the report says otherwise). */
  confidence: number;
  /** The search's own words on why this α (or no α) was chosen. */
  reason?: string;
  /**
   * How many α > 0 the decision chose among and the (Bonferroni-adjusted) level of the
   * interval in `reason`: with more than one, that interval is wider than the table's CI of
   * the same difference, and the card says why.
   */
  decisionStatistics?: { comparisons: number; adjustedLevel: number };
  /** The prompt subset's seed and size, when the report records them (for the reproduce commands). */
  promptSeed?: number;
  promptCount?: number;
  /** The answer length cap (tokens) and the generator's id, when recorded (for the table's truncation note and the reproduce commands). */
  maxNewTokens?: number;
  generator?: string;
  /** The gain to publish (absent in reports older than search.json v2, or with no held-out prompts). */
  reported?: ReportedGainView;
  sanity?: SanityView;
  /** Things the reader should know (the search's notes). */
  notes?: string[];
  /** Prompts the selection used and prompts held out. */
  selectionPrompts?: number;
  heldOutPrompts?: number;
  /** The models the search evaluated (a Hub id or a local path, and a revision). */
  aligned?: { path: string; revision: string };
  sft?: { path: string; revision: string };
}

/** Licence metadata as it appears in a model card's YAML. */
export interface LicenceMetadata {
  license?: string;
  license_name?: string;
  license_link?: string;
}
