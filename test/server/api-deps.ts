// The management API's dependencies when no translation runs: a store and its desired state, and
// no status, proxy or description. The API tests that check what the API itself does start with these.
import type { ManagementDeps } from "../../src/server/api/index.js";
import type { Description } from "../../src/server/describe.js";
import { DesiredState } from "../../src/server/desired-state.js";
import type { ResourceStore } from "../../src/store/index.js";

/** A resource nothing uses: no gateway serves it, nothing is attached to it. */
export const noDescription: Description = {
  servedBy: [],
  envoyResources: [],
  gateways: [],
  routeTables: [],
  policies: [],
  routes: [],
  clusters: [],
  rateLimitDomain: "",
  authConfigId: "",
};

/** `store`, with nothing translated from it. */
export function untranslatedDeps(store: ResourceStore) {
  return {
    store,
    desired: new DesiredState(store),
    status: () => undefined,
    proxies: () => [],
    describe: () => ({ publishedRevision: 1, description: noDescription }),
  } satisfies ManagementDeps;
}
