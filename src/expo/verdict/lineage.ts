/**
 * Lineage: does θ1's card say it was trained from θ0? `base_model` (a string or a
 * one-element list) or a tag `expo-parent:OWNER/NAME`. The card is a claim, not proof —
 * the weight statistics are the evidence — so a card that names something else warns, and a
 * card that names nothing (or a θ0 without an id) is reported as unknown, never as refuted.
 */
import { sameRepoId, type CardInfo } from "./card.js";
import type { Lineage, Reason } from "./types.js";

export function checkLineage(alignedCard: CardInfo, sftId: string | null, alignedLabel: string): { lineage: Lineage; reasons: Reason[] } {
  const reasons: Reason[] = [];
  const named = [...new Set([...alignedCard.expoParents, ...alignedCard.baseModels])];
  if (alignedCard.error) {
    reasons.push({ level: "warn", code: "card-unreadable", message: `θ1's model card metadata could not be read: ${alignedCard.error}. Lineage is unknown.`, numbers: {} });
  }
  const tagMatch = sftId !== null && alignedCard.expoParents.some((p) => sameRepoId(p, sftId));
  const baseMatch = sftId !== null && alignedCard.baseModels.length >= 1 && alignedCard.baseModels.some((p) => sameRepoId(p, sftId));
  if (tagMatch || baseMatch) {
    const via = tagMatch ? "expo-parent" : "base_model";
    const lineage: Lineage = { status: "confirmed", via, named };
    if (via === "base_model" && alignedCard.baseModels.length > 1) {
      reasons.push({
        level: "warn",
        code: "lineage-several-parents",
        message: `θ1's card lists ${alignedCard.baseModels.length} base models (${alignedCard.baseModels.join(", ")}), θ0 among them; a merge of several parents may not be mode-connected to any one of them. Add the tag expo-parent:${sftId} to say which one θ1 was trained from.`,
        numbers: { baseModels: alignedCard.baseModels.length },
      });
    } else {
      reasons.push({ level: "info", code: "lineage-confirmed", message: `θ1's card names ${sftId} as its parent (${via === "expo-parent" ? `tag expo-parent:${sftId}` : "base_model"}).`, numbers: {} });
    }
    return { lineage, reasons };
  }
  if (named.length === 0) {
    reasons.push({
      level: "info",
      code: "lineage-unknown",
      message: `θ1 (${alignedLabel}) does not name a parent model (no base_model in its card, no expo-parent tag), so lineage is unknown; the verdict rests on the weights.`,
      numbers: {},
    });
    return { lineage: { status: "unknown", via: null, named }, reasons };
  }
  if (sftId === null) {
    reasons.push({
      level: "info",
      code: "lineage-unknown",
      message: `θ1's card names ${named.join(", ")} as its parent, but θ0 is a local folder without an id, so the claim cannot be compared (pass --sft-id OWNER/NAME to compare it); the verdict rests on the weights.`,
      numbers: {},
    });
    return { lineage: { status: "unknown", via: null, named }, reasons };
  }
  reasons.push({
    level: "warn",
    code: "lineage-mismatch",
    message: `θ1's card names ${named.join(", ")} as its parent, not ${sftId}. Cards often name the pretrained base rather than the SFT checkpoint, so this alone does not refuse the pair; the weights decide. Add the tag expo-parent:${sftId} to θ1 if ${sftId} is the SFT parent.`,
    numbers: {},
  });
  return { lineage: { status: "mismatch", via: null, named }, reasons };
}
