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
  /** The prompt subset's seed and size, when the report records them (for the reproduce commands). */
  promptSeed?: number;
  promptCount?: number;
  /** The answer length cap and the generator's id, when recorded (for the reproduce commands). */
  maxNewTokens?: number;
  generator?: string;
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
