export {
  type ApiLimits,
  apiLimitFlags,
  checkApiTokens,
  defaultApiLimits,
  type ManagementDeps,
  minApiTokenLength,
  type ProxyStatusView,
  parseGroupRoles,
  parseTokensFile,
  type Role,
  resolveApiLimits,
  startManagementApi,
  type TokenEntry,
} from "./api/index.js";
export { type BootstrapOptions, bootstrapToJson, buildBootstrap, type ProxyRole, proxyRoles } from "./bootstrap.js";
export { ConfigDirSource } from "./config-dir.js";
export { DesiredState, type DocumentParser } from "./desired-state.js";
export { resourceToDocument } from "./documents.js";
export { buildGraph, type Graph, graphNodeId } from "./graph.js";
export {
  type GraphRatesSource,
  graphRateQueries,
  PrometheusGraphRates,
  type RateSeries,
  ratesOnEdges,
} from "./graph-rates.js";
export {
  authConfigTypeUrl,
  type Publication,
  type PublishedGroup,
  Publisher,
  rateLimitConfigTypeUrl,
  roleOf,
  selects,
} from "./publish.js";
export { type ManagementServer, type ManagementServerOptions, startManagementServer } from "./server.js";
export {
  checkUiOidcOptions,
  MemorySignOuts,
  parseSessionKeyFile,
  RedisSignOuts,
  SealingKeys,
  type SignOuts,
  type UiOidcOptions,
  type UiOptions,
} from "./ui/index.js";
