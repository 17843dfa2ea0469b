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
export { type DebounceOptions, Debouncer } from "./debounce.js";
export { DesiredState, type DocumentParser } from "./desired-state.js";
export { resourceToDocument } from "./documents.js";
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
export { checkUiOidcOptions, type UiOidcOptions, type UiOptions } from "./ui/index.js";
