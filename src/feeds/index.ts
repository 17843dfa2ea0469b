import type { ConfigProvider } from "../config/index.js";
import type { AuthConfigSet } from "../extauth/index.js";
import { AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { type RateLimitConfig, RateLimitConfigSchema } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { ClientTlsFiles } from "../lib/grpc-tls.js";
import type { Logger } from "../lib/logger.js";
import { checkConfigs } from "../ratelimit/index.js";
import { XdsProvider } from "./xds-provider.js";

export { XdsProvider, type XdsProviderOptions } from "./xds-provider.js";

/**
 * Config by xDS for Gantry's own services: the ext-auth server follows the management server's
 * AuthConfigs, the rate-limit server its RateLimitConfigs. A config the service refuses is NACKed
 * with the service's error and the last good config keeps serving; so does everything while the
 * management server is away.
 */
export interface ConfigFeedOptions {
  /** The management server's xDS address, host:port. */
  server: string;
  /** This service's node id; unique per replica (it shows in `gantry get proxies`). */
  nodeId: string;
  logger?: Logger;
  /** The management server's xDS port serves TLS: the CA to trust and, for mTLS, this service's certificate. */
  tls?: ClientTlsFiles;
}

/** The management server's AuthConfigs, by config id. */
export function authConfigsByXds(options: ConfigFeedOptions): XdsProvider<typeof AuthConfigSchema, AuthConfigSet> {
  return new XdsProvider({
    client: {
      server: options.server,
      node: { id: options.nodeId, cluster: "gantry-extauth", metadata: { role: "extauth" } },
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    },
    schema: AuthConfigSchema,
    nameOf: (config) => config.id,
    // Auth configs are checked while they are built, where the error names the config and field.
    parse: (configs) => ({ configs: [...configs.values()] }),
  });
}

/** The management server's RateLimitConfigs, one per domain, checked together. */
export function rateLimitConfigsByXds(
  options: ConfigFeedOptions,
): XdsProvider<typeof RateLimitConfigSchema, readonly RateLimitConfig[]> {
  return new XdsProvider({
    client: {
      server: options.server,
      node: { id: options.nodeId, cluster: "gantry-ratelimit", metadata: { role: "ratelimit" } },
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    },
    schema: RateLimitConfigSchema,
    parse: (configs) => {
      const checked = [...configs.values()];
      checkConfigs(checked);
      return checked;
    },
  });
}

/** Makes `target` follow `provider`; an xDS provider starts at once, so this never waits. */
function follow<T, P extends ConfigProvider<T>>(
  target: { follow(provider: ConfigProvider<T>): Promise<void> },
  provider: P,
  logger: Logger | undefined,
): P {
  target
    .follow(provider)
    .catch((err: unknown) => logger?.error({ err, source: provider.source }, "following xDS failed"));
  return provider;
}

export function followAuthConfigs(
  target: { follow(provider: ConfigProvider<AuthConfigSet>): Promise<void> },
  options: ConfigFeedOptions,
): XdsProvider<typeof AuthConfigSchema, AuthConfigSet> {
  return follow(target, authConfigsByXds(options), options.logger);
}

export function followRateLimitConfigs(
  target: { follow(provider: ConfigProvider<readonly RateLimitConfig[]>): Promise<void> },
  options: ConfigFeedOptions,
): XdsProvider<typeof RateLimitConfigSchema, readonly RateLimitConfig[]> {
  return follow(target, rateLimitConfigsByXds(options), options.logger);
}
