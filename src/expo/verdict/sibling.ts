/**
 * Child or sibling? ExPO needs θ1 trained *from* θ0. A common mistake names as θ0 a model
 * fine-tuned separately from the same base ("θ0" is θ1's sibling): relative distance and
 * cosine between θ0 and θ1 cannot tell the two apart (both are the base plus two small
 * updates), so this check uses what can:
 *
 * - lineage: θ1's card naming θ0's own parent is what a sibling's card looks like;
 * - the shared base's weights, when a base is known (given, or the single parent θ1's card
 *   names): with u = θ0 − base and v = θ1 − base on the same sampled blocks, a child carries
 *   θ0's whole update, so ⟨v, u⟩/‖u‖² ≈ 1 ("share of θ0's update in θ1"); a sibling's update
 *   is its own, so the share is near 0 (≈ the correlation of two independent fine-tunes);
 * - the share of bit-identical values at equal offsets (reported with the numbers).
 */
import type { ModelWeights } from "../../checkpoint/weights.js";
import { sameRepoId, type CardInfo } from "./card.js";
import { formatNumber, readBlock, type SamplePlanEntry } from "./sample.js";
import type { Reason, TensorStat } from "./types.js";

/** Below this share of θ0's update found in θ1, θ1 was not trained from θ0: refuse. */
export const SIBLING_REFUSE_SHARE = 0.5;
/** Below this, warn: θ1 carries only part of θ0's update. */
export const SIBLING_WARN_SHARE = 0.8;

/** The parent θ1's card names that is also θ0's own parent (θ1 then looks like θ0's sibling), if any. */
export function siblingByLineage(alignedCard: CardInfo, sftCard: CardInfo, sftId: string | null): string | null {
  const named = [...alignedCard.expoParents, ...alignedCard.baseModels];
  if (sftId !== null && named.some((p) => sameRepoId(p, sftId))) return null;
  return named.find((p) => sftCard.baseModels.some((b) => sameRepoId(b, p))) ?? null;
}

/** The base to compare against: the one given, else the single parent θ1's card names when it is not θ0. */
export function baseCandidate(alignedCard: CardInfo, sftId: string | null): string | null {
  const named = [...new Set([...alignedCard.expoParents, ...alignedCard.baseModels])];
  if (named.length !== 1) return null;
  if (sftId !== null && sameRepoId(named[0], sftId)) return null;
  return named[0];
}

export interface BaseDirection {
  /** ⟨θ1 − base, θ0 − base⟩ / ‖θ0 − base‖²: ≈ 1 for a child of θ0, ≈ 0 for a sibling. */
  share: number;
  /** cosine of (θ1 − base) and (θ0 − base). */
  cosine: number;
  /** ‖θ0 − base‖ / ‖base‖ on the sample. */
  sftDistance: number;
  tensors: number;
  elements: number;
}

/** Reads the planned blocks of the base too and measures the direction of θ1 − base against θ0 − base. */
export async function measureBaseDirection(options: {
  base: ModelWeights;
  sft: ModelWeights;
  aligned: ModelWeights;
  plan: readonly SamplePlanEntry[];
  stats: readonly TensorStat[];
}): Promise<BaseDirection | null> {
  const { base, sft, aligned, plan } = options;
  let uu = 0, uv = 0, vv = 0, bb = 0, elements = 0, tensors = 0;
  for (const entry of plan) {
    const stat = options.stats.find((s) => s.name === entry.name);
    if (!stat?.decisive || !base.has(entry.name)) continue;
    const shape = base.get(entry.name).info.shape;
    if (shape.length !== stat.shape.sft.length || shape.some((d, i) => d !== stat.shape.sft[i])) continue;
    const [b, a0, a1] = await Promise.all([readBlock(base, entry), readBlock(sft, entry), readBlock(aligned, entry)]);
    for (let k = 0; k < b.length; k++) {
      const u = a0[k] - b[k];
      const v = a1[k] - b[k];
      if (!Number.isFinite(u) || !Number.isFinite(v)) continue;
      uu += u * u;
      uv += u * v;
      vv += v * v;
      bb += b[k] * b[k];
    }
    elements += b.length;
    tensors++;
  }
  if (tensors === 0 || !(uu > 0) || !(bb > 0)) return null;
  return { share: uv / uu, cosine: vv > 0 ? uv / Math.sqrt(uu * vv) : 0, sftDistance: Math.sqrt(uu / bb), tensors, elements };
}

/** Share of sampled values bit-identical at equal offsets in θ0 and θ1, over the decisive tensors. */
export function identicalShare(stats: readonly TensorStat[]): number | null {
  let same = 0;
  let total = 0;
  for (const s of stats) {
    if (!s.decisive || s.identical === undefined) continue;
    same += s.identical;
    total += s.elements;
  }
  return total > 0 ? same / total : null;
}

/** The reasons: sibling by lineage, and the verdict of the base direction when it was measured. */
export function judgeSibling(options: {
  lineageSibling: string | null;
  base: string | null;
  direction: BaseDirection | null;
  baseError: string | null;
  identical: number | null;
}): Reason[] {
  const { lineageSibling, base, direction, baseError, identical } = options;
  const reasons: Reason[] = [];
  const same = identical === null ? "" : ` ${formatNumber(100 * identical)} % of the sampled values are bit-identical in θ0 and θ1.`;
  if (direction && base) {
    const nums = { share: direction.share, cosine: direction.cosine, sftDistance: direction.sftDistance, tensors: direction.tensors, elements: direction.elements, identicalShare: identical };
    const what = `Against ${base} on ${direction.tensors} sampled matrices, θ1 − base carries ${formatNumber(100 * direction.share)} % of θ0's own update θ0 − base (cosine ${formatNumber(direction.cosine)}); a child of θ0 carries about 100 %, a sibling fine-tuned separately from the base about 0 %.${same}`;
    if (direction.share < SIBLING_REFUSE_SHARE) {
      reasons.push({ level: "refuse", code: "sibling", message: `θ1 was not trained from θ0: it looks like θ0's sibling. ${what} ExPO extrapolates the update from θ0 to θ1; between siblings that is the difference of two unrelated fine-tunes, and extrapolating it damages the model.`, numbers: nums });
    } else if (direction.share < SIBLING_WARN_SHARE) {
      reasons.push({ level: "warn", code: "sibling-partial", message: `θ1 carries only part of θ0's update. ${what} θ1 may have been trained from an earlier checkpoint of θ0's line.`, numbers: nums });
    } else {
      reasons.push({ level: "info", code: "child-of-sft", message: `θ1 is a child of θ0, not a sibling. ${what}`, numbers: nums });
    }
    return reasons;
  }
  if (lineageSibling) {
    reasons.push({
      level: "warn",
      code: "lineage-sibling",
      message: `θ1's card names ${lineageSibling}, which is θ0's own parent: θ1 may be θ0's sibling (fine-tuned separately from ${lineageSibling}) rather than its child, and ExPO needs a child.${baseError ? ` The base could not be read to settle it (${baseError}).` : ""}${same}`,
      numbers: { identicalShare: identical },
    });
  }
  return reasons;
}
