export { appliedPolicies, policyKinds, routeDestinations, routeTablesOf } from "./attachments.js";
export { serviceClusters } from "./envoy/common.js";
export type * from "./model.js";
export { eastWestSni, unreachableClusterOf } from "./normalize/east-west.js";
export { defaultTrustDomain, type Normalized, normalize } from "./normalize/index.js";
export { serverListenerName } from "./normalize/servers.js";
export type { OpenApiResults } from "./openapi-status.js";
export { routeConfigurationsOf } from "./process/routes.js";
export { type ShadowedRoute, shadowedRoutes } from "./shadowing.js";
export { State, type Status } from "./status.js";
export {
  type ProxyGroup,
  type TranslateInputs,
  type TranslateOptions,
  type Translation,
  Translator,
  translate,
} from "./translate.js";
