import type { OidcAuthorizationCode } from "../../../gen/gantry/extauth/v1/oidc_pb.js";
import { AuthConfigError, type Evaluator, type EvaluatorDeps } from "../../evaluator.js";
import { EncryptedCookieSessionStore, RedisSessionStore } from "../../sessions/index.js";
import { OidcEvaluator, type OidcStores } from "./evaluator.js";
import { OidcProviderClient } from "./provider.js";
import { parseOidcSettings } from "./settings.js";

/**
 * Builds the `oauth2.oidcAuthorizationCode` evaluator. `field` is the path of these settings in
 * the config (e.g. `configs[0].oauth2.oidcAuthorizationCode`); errors name fields under it.
 */
export async function createOidcEvaluator(
  settings: OidcAuthorizationCode,
  deps: EvaluatorDeps,
  field: string,
): Promise<Evaluator> {
  const parsed = await parseOidcSettings(settings, deps.baseDir, field);
  let stores: OidcStores;
  switch (parsed.storage.kind) {
    case "redis": {
      if (deps.redis === undefined) {
        throw new AuthConfigError(
          `${field}.session.redis`,
          "needs the ext-auth server to run with a Redis (--redis-url)",
        );
      }
      const prefix = parsed.storage.keyPrefix;
      stores = {
        sessions: new RedisSessionStore(deps.redis, `${prefix}session:`),
        logins: new RedisSessionStore(deps.redis, `${prefix}login:`),
      };
      break;
    }
    case "cookie":
      stores = {
        sessions: new EncryptedCookieSessionStore(parsed.storage.key, `oidc session ${parsed.cookie.name}`, deps.clock),
        logins: new EncryptedCookieSessionStore(parsed.storage.key, `oidc login ${parsed.cookie.name}`, deps.clock),
      };
      break;
  }
  const provider = new OidcProviderClient(parsed, deps.clock, deps.logger);
  return new OidcEvaluator(parsed, provider, stores, deps.clock, deps.logger);
}

// The management server's dashboard signs in through the same provider client and login URL.
export { parseCookies } from "./cookies.js";
export { authorizationUrl } from "./login.js";
export { OidcProviderClient, ProviderUnavailableError } from "./provider.js";
export type { OidcSettings } from "./settings.js";
