/** The local Hub-compatible server: start it in-process with `startLocalHub()`. See server.ts. */
export { startLocalHub, parseRange, CHECKED_CLIENT_VERSION } from "./server.js";
export type { LocalHub, LocalHubAdmin, LocalHubOptions, FaultSpec, RequestRecord, CreateRepoInput, RealHubBehaviours, WebhookScope, WebhookDelivery } from "./types.js";
export { DEFAULT_GITATTRIBUTES, gitBlobOid, lfsPointer } from "./store.js";
