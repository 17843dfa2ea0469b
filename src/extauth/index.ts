/**
 * The ext-auth server: Envoy's `ext_authz` Check over gRPC, auth configs from a file or a caller,
 * evaluators combined by boolean expressions. This is the subsystem's only door.
 */
export {
  type ApiKeyRecord,
  createApiKey,
  listApiKeys,
  type NewApiKey,
  revokeApiKey,
} from "./apikeys/index.js";
export { AuthConfigInvalid } from "./compile.js";
export { AuthConfigFileError, parseAuthConfigFile } from "./config-file.js";
export type { AuthConfigSet } from "./config-set.js";
export { type ExtAuthServer, type ExtAuthServerOptions, startExtAuthServer } from "./server.js";
export { type ExtAuthWorkers, startExtAuthWorkers } from "./workers.js";
