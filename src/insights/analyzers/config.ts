// The configuration analyzers, together: what the server runs after each translation and
// `gantry analyze` runs on files.
import type { Finding } from "../types.js";
import type { ConfigInput } from "./config-input.js";
import { missingEastWestGateways } from "./config-multicluster.js";
import { costlyRegexes, policyFindings, refusedResources } from "./config-policies.js";
import { danglingReferences } from "./config-references.js";
import {
  proxylessIgnoredPolicies,
  routeTimeoutFindings,
  shadowedRouteFindings,
  unusedDestinations,
} from "./config-routes.js";

export const configAnalyzers: readonly ((input: ConfigInput) => Finding[])[] = [
  danglingReferences,
  policyFindings,
  shadowedRouteFindings,
  costlyRegexes,
  routeTimeoutFindings,
  unusedDestinations,
  proxylessIgnoredPolicies,
  refusedResources,
  missingEastWestGateways,
];

export function analyzeConfig(input: ConfigInput): Finding[] {
  return configAnalyzers.flatMap((analyze) => analyze(input));
}
