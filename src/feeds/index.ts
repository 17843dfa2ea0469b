import { type AuthConfig, AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { type RateLimitConfig, RateLimitConfigSchema } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { Logger } from "../lib/logger.js";
import { XdsClient } from "../xds/index.js";

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
}

export function followAuthConfigs(
  target: { setConfigs(configs: readonly AuthConfig[]): Promise<void> },
  options: ConfigFeedOptions,
): XdsClient {
  const client = new XdsClient({
    server: options.server,
    node: { id: options.nodeId, cluster: "gantry-extauth", metadata: { role: "extauth" } },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  client.subscribe(AuthConfigSchema, {
    nameOf: (config) => config.id,
    onUpdate: async (configs) => {
      await target.setConfigs([...configs.values()]);
      options.logger?.info({ configs: configs.size }, "auth configs updated by xDS");
    },
  });
  client.start();
  return client;
}

export function followRateLimitConfigs(
  target: { setConfigs(configs: readonly RateLimitConfig[]): void },
  options: ConfigFeedOptions,
): XdsClient {
  const client = new XdsClient({
    server: options.server,
    node: { id: options.nodeId, cluster: "gantry-ratelimit", metadata: { role: "ratelimit" } },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  client.subscribe(RateLimitConfigSchema, {
    onUpdate: (configs) => {
      target.setConfigs([...configs.values()]);
      options.logger?.info({ domains: configs.size }, "rate-limit configs updated by xDS");
    },
  });
  client.start();
  return client;
}
