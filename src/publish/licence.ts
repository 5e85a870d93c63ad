/**
 * Licence and access rules for publishing a derivative of θ1.
 *
 * The output inherits θ1's licence (ExPO's weights are a function of θ1 and θ0, and the
 * config/tokenizer/licence files come from θ1). Before anything is published we check:
 *
 * - access: θ1 and θ0 must be public and not gated, unless the operator allows it
 *   (`allowGated` / `allowPrivate`): redistributing a gated model's weights ungated would
 *   bypass the gate its authors chose;
 * - derivatives: licences that forbid derivative works are refused;
 * - naming: some licences prescribe how a derivative is named (see LICENCE_RULES).
 *
 * The table is documented in docs/publish.md; keep the two in sync.
 */
import type { LicenceMetadata } from "./types.js";

export interface LicenceRule {
  /** Stable key used in docs and tests. */
  key: string;
  /** What the rule is about, for the docs table and refusal messages. */
  title: string;
  /** Whether `(license, license_name)` is covered by this rule. */
  matches(meta: LicenceMetadata): boolean;
  derivatives: "allowed" | "forbidden";
  /** The output repo name must begin with this (compared ignoring case and `-`, `_`, space, `.`). */
  namePrefix?: string;
  /** Notices the licence requires the derivative's documentation to carry (trusted text). */
  notices: string[];
}

const id = (meta: LicenceMetadata) => (meta.license ?? "").trim().toLowerCase();
const otherName = (meta: LicenceMetadata) => (id(meta) === "other" ? (meta.license_name ?? "").trim().toLowerCase() : "");

function llama(version: string, prefix: string, builtWith: string, licenceName: string): LicenceRule {
  const key = `llama${version}`;
  return {
    key,
    title: `${licenceName} (Hub id \`${key}\`)`,
    matches: (m) => id(m) === key || otherName(m) === key || otherName(m) === `llama-${version}`,
    derivatives: "allowed",
    namePrefix: prefix,
    notices: [
      builtWith,
      `${licenceName.replace(/ Community License.*$/, "")} is licensed under the ${licenceName}, Copyright © Meta Platforms, Inc. All Rights Reserved.`,
    ],
  };
}

/**
 * Known licences with conditions on derivatives. Licences not listed (apache-2.0, mit,
 * cc-by-4.0, openrail…) allow derivatives with attribution, which the card and the copied
 * licence files give.
 */
export const LICENCE_RULES: LicenceRule[] = [
  {
    key: "cc-nd",
    title: "Creative Commons NoDerivatives (`cc-by-nd-*`, `cc-by-nc-nd-*`)",
    matches: (m) => /^cc-by(-nc)?-nd(-|$)/.test(id(m)) || /^cc-by(-nc)?-nd(-|$)/.test(otherName(m)),
    derivatives: "forbidden",
    notices: [],
  },
  {
    key: "other-nd",
    title: "`other` licences whose name says no derivatives (`*-nd-*`, `*no-derivatives*`, `*noderivs*`)",
    matches: (m) => /(^|[-_ .])nd([-_ .]|$)|no-?deriv/.test(otherName(m)),
    derivatives: "forbidden",
    notices: [],
  },
  {
    key: "llama2",
    title: "Llama 2 Community License (Hub id `llama2`)",
    matches: (m) => id(m) === "llama2" || otherName(m) === "llama2",
    derivatives: "allowed",
    notices: ["Llama 2 is licensed under the LLAMA 2 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved."],
  },
  llama("3", "Llama-3", "Built with Meta Llama 3", "Meta Llama 3 Community License"),
  llama("3.1", "Llama", "Built with Llama", "Llama 3.1 Community License"),
  llama("3.2", "Llama", "Built with Llama", "Llama 3.2 Community License"),
  llama("3.3", "Llama", "Built with Llama", "Llama 3.3 Community License"),
  llama("4", "Llama", "Built with Llama", "Llama 4 Community License"),
  {
    key: "gemma",
    title: "Gemma Terms of Use (Hub id `gemma`)",
    matches: (m) => id(m) === "gemma" || otherName(m) === "gemma",
    derivatives: "allowed",
    notices: [
      "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms. " +
        "This model is a Model Derivative of Gemma and is subject to the same use restrictions (the Gemma Prohibited Use Policy, ai.google.dev/gemma/prohibited_use_policy).",
    ],
  },
  {
    key: "qwen",
    title: "Qwen / Tongyi Qianwen licence agreements (`other`, name `qwen` or `tongyi-qianwen`)",
    matches: (m) => ["qwen", "tongyi-qianwen", "tongyi-qianwen-license-agreement"].includes(otherName(m)),
    derivatives: "allowed",
    notices: ["Built with Qwen."],
  },
];

export interface LicenceVerdict {
  ok: boolean;
  /** Why it is refused (empty when ok). */
  reasons: string[];
  /** Non-blocking remarks (unknown `other` licence, missing metadata). */
  warnings: string[];
  /** Matching rules, in table order. */
  rules: LicenceRule[];
  /** Required name prefix, if any rule prescribes one. */
  namePrefix?: string;
  notices: string[];
}

export function checkLicence(meta: LicenceMetadata, source: string): LicenceVerdict {
  const rules = LICENCE_RULES.filter((r) => r.matches(meta));
  const reasons: string[] = [];
  const warnings: string[] = [];
  for (const rule of rules) {
    if (rule.derivatives === "forbidden") {
      const shown = id(meta) === "other" ? `other (${meta.license_name ?? "unnamed"})` : id(meta);
      reasons.push(`${source} is licensed ${shown}, which does not allow derivative works (${rule.title}); an ExPO model is a derivative.`);
    }
  }
  if (!meta.license) warnings.push(`${source} declares no licence in its card metadata (field \`license\`); the output carries none either.`);
  else if (id(meta) === "other" && rules.length === 0) {
    warnings.push(
      `${source} uses a custom licence (${meta.license_name ?? "no license_name"}) that ExPO Bot does not know; it is copied as-is — check that it allows derivatives.`,
    );
  }
  const namePrefix = rules.find((r) => r.namePrefix)?.namePrefix;
  return { ok: reasons.length === 0, reasons, warnings, rules, namePrefix, notices: rules.flatMap((r) => r.notices) };
}

export interface AccessInfo {
  id: string;
  private?: boolean;
  gated?: false | "auto" | "manual" | boolean;
}

export interface AccessOptions {
  /** Publish derivatives of gated sources (the output is NOT gated: the operator takes that on). */
  allowGated?: boolean;
  /** Publish derivatives of private sources. */
  allowPrivate?: boolean;
}

/** Reasons to refuse because a source is private or gated (empty when allowed). */
export function checkAccess(sources: Array<{ role: string; info: AccessInfo }>, options: AccessOptions = {}): string[] {
  const reasons: string[] = [];
  for (const { role, info } of sources) {
    if (info.private && !options.allowPrivate) {
      reasons.push(`${role} ${info.id} is private; publishing a derivative of a private model needs allowPrivate.`);
    }
    if (info.gated && !options.allowGated) {
      reasons.push(
        `${role} ${info.id} is gated (${info.gated === true ? "gated" : info.gated} approval); publishing an ungated derivative would bypass its access conditions — needs allowGated.`,
      );
    }
  }
  return reasons;
}
