/**
 * `results.json` checked against the request it claims to answer. The schema check
 * (`parseResults`) says the artifact is well formed; this says it speaks only for its own
 * request: a run's artifact is the runner's word, and the bot repeats parts of it in public
 * comments on GitHub and on θ1's Hub thread, so nothing in it may name another repository,
 * another URL, another image or other sources.
 *
 * - `requestId`, θ1 and θ0 (repo@sha) and the pinned α must be the request's;
 * - the published repo must be `<namespace>/<name>-ExPO…` in the bot's namespace (when the
 *   operator set one), its commit a full sha, and its URL exactly `<hub>/<repo>`;
 * - the plot must be a file of that published repo (a relative path, or its `/resolve/` URL
 *   at the published commit on the same Hub); anything else is refused, not dropped, so the
 *   operator sees it.
 *
 * The problems name the field and what was expected, never the artifact's value: they are
 * told to the requester, and a hostile value must not reach a comment that way either.
 */
import type { ExpoResults } from "../job/results.js";
import { isRepoId } from "./request.js";
import type { RequestRecord } from "./types.js";

export interface ResultsCheckParams {
  results: ExpoResults;
  request: Pick<RequestRecord, "id" | "theta1" | "theta1Sha" | "theta0" | "theta0Sha" | "alpha">;
  /** The Hub's base URL, e.g. https://huggingface.co. */
  hubUrl: string;
  /** The namespace the job publishes to (EXPO_HUB_NAMESPACE), when the operator set one. */
  namespace?: string;
}

const SHA_RE = /^[0-9a-f]{40}$/;
/** `<θ1 name>-ExPO`, possibly with a licence prefix before and a disambiguating suffix after. */
const OUTPUT_NAME_RE = /-ExPO(?:-[0-9a-f]{4,12})?$/;

/** Returns the problems (each naming the field and the value); empty when the artifact answers this request. */
export function checkResultsForRequest(p: ResultsCheckParams): string[] {
  const { results: x, request: r } = p;
  const hub = p.hubUrl.replace(/\/+$/, "");
  const errors: string[] = [];
  if (x.requestId !== r.id) errors.push(`requestId is not ${r.id}`);
  if (x.theta1.repo !== r.theta1 || x.theta1.sha !== r.theta1Sha) errors.push(`theta1 is not ${r.theta1}@${r.theta1Sha}`);
  if (x.theta0.repo !== r.theta0 || x.theta0.sha !== r.theta0Sha) errors.push(`theta0 is not ${r.theta0}@${r.theta0Sha}`);
  if (x.pinnedAlpha !== r.alpha) errors.push(`pinnedAlpha is not the request's (${r.alpha === null ? "searched" : r.alpha})`);
  const pub = x.published;
  if (pub) {
    const [owner, name] = pub.repo.split("/");
    if (!isRepoId(pub.repo) || !OUTPUT_NAME_RE.test(name ?? "")) errors.push("published.repo is not an ExPO output name (OWNER/<name>-ExPO)");
    else if (p.namespace && owner !== p.namespace) errors.push(`published.repo is not in the bot's namespace ${p.namespace}`);
    if (!SHA_RE.test(pub.commit)) errors.push("published.commit is not a 40-hex commit sha");
    if (pub.url !== `${hub}/${pub.repo}`) errors.push("published.url is not the published repository's page on the Hub");
  }
  if (x.plot !== null) {
    const inRepo = pub ? `${hub}/${pub.repo}/resolve/${pub.commit}/` : null;
    const relative = /^(?![a-z][a-z0-9+.-]*:)(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[\w./-]+$/i.test(x.plot);
    const absolute = inRepo !== null && x.plot.startsWith(inRepo) && /^[\w./-]+$/.test(x.plot.slice(inRepo.length)) && !x.plot.slice(inRepo.length).split("/").includes("..");
    if (!(pub && (relative || absolute))) errors.push("plot is not a file of the published repository");
  }
  return errors;
}
