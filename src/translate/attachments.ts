// Which resources a served route came from, read off the model (for `describe` and the API).
import { type Kind, parseRefKey, refKey } from "../resources/index.js";
import type { ModelRoute } from "./model.js";

/** The kinds that attach to routes by selector. */
export const policyKinds: readonly Kind[] = [
  "ExtAuthPolicy",
  "RateLimitPolicy",
  "RetryTimeoutPolicy",
  "FaultInjectionPolicy",
  "CORSPolicy",
  "HeaderPolicy",
  "AccessPolicy",
];

function kindOf(key: string): string {
  return parseRefKey(key).kind;
}

/**
 * The policies applied to a route (`Kind/namespace/name`), in the order they were applied. A
 * policy that selects the route but lost to an earlier one of its kind is not among them.
 */
export function appliedPolicies(route: ModelRoute): string[] {
  return route.origins.filter((key) => (policyKinds as readonly string[]).includes(kindOf(key)));
}

/** The destinations a route forwards to (`Destination/namespace/name`). */
export function routeDestinations(route: ModelRoute): string[] {
  return route.origins.filter((key) => kindOf(key) === "Destination");
}

/**
 * The route tables a route passes through (`RouteTable/namespace/name`), root first: the root of
 * its virtual host, those it was delegated through, and the one defining it. Read off the route's
 * name, which is its delegation path.
 */
export function routeTablesOf(route: ModelRoute): string[] {
  const out: string[] = [];
  for (const step of route.name.split(" > ")) {
    const [namespace, name] = step.split("/", 2);
    if (!namespace || !name) continue;
    const key = refKey({ kind: "RouteTable", namespace, name });
    if (!out.includes(key)) out.push(key);
  }
  return out;
}
