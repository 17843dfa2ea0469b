import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ManagementService } from "../../gen/gantry/api/v1/management_pb.js";
import { TrustAdminService } from "../../gen/gantry/api/v1/trust_pb.js";
import { systemClock, type Timers } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { TlsFileWatch } from "../../lib/tls.js";
import { ApiAuth, principalKey } from "./auth.js";
import { FailedAuthLimiter } from "./failed-auth.js";
import { gateRequests } from "./gate.js";
import { type ApiListener, listenHttp } from "./http.js";
import { type ApiLimits, resolveApiLimits } from "./limits.js";
import { withParseErrorsAsInvalid } from "./parse-errors.js";
import { type ManagementDeps, managementService } from "./service.js";
import { trustAdminService } from "./trust.js";

export { ApiAuth, type ApiPrincipal, checkApiTokens } from "./auth.js";
export { type ApiLimits, apiLimitFlags, defaultApiLimits, resolveApiLimits } from "./limits.js";
export type { ManagementDeps, ProxyClientView, ProxyStatusView } from "./service.js";

export interface ManagementApiOptions {
  host: string;
  port: number;
  /** The bearer token every call must present; `undefined` only with `insecure` (local development). */
  token: string | undefined;
  /** The token that may also ask to see secret material; without it, nobody may. */
  secretsToken?: string | undefined;
  insecure?: boolean;
  /** Defaults in `defaultApiLimits`. */
  limits?: Partial<ApiLimits>;
  deps: ManagementDeps;
  logger?: Logger;
  /** For the failed-authentication budget and the HTTP/2 timeouts. Default the system clock. */
  timers?: Timers;
  /** Serve HTTPS (ALPN h2 and http/1.1) with the certificates this watch holds; stopped with the API. */
  tls?: TlsFileWatch;
}

/**
 * Serves the management API (Connect JSON, gRPC and gRPC-Web) on one port, HTTP/1.1 and h2c, or HTTPS (h2,
 * http/1.1). Every
 * request passes the gate (token, failed-authentication budget, declared body size) before its
 * body is read.
 */
export async function startManagementApi(options: ManagementApiOptions): Promise<ApiListener> {
  const auth = new ApiAuth({
    token: options.token,
    secretsToken: options.secretsToken,
    ...(options.insecure ? { insecure: true } : {}),
  });
  const limits = resolveApiLimits(options.limits);
  const timers = options.timers ?? systemClock;
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(ManagementService, managementService(options.deps, auth));
      router.service(TrustAdminService, trustAdminService(options.deps.trust));
      router.handlers.forEach((handler, i) => {
        router.handlers[i] = withParseErrorsAsInvalid(handler);
      });
    },
    // Bounds bodies sent without a length, and what a compressed body may inflate to.
    readMaxBytes: limits.maxBodyBytes,
    contextValues: (request) =>
      createContextValues().set(principalKey, auth.identify(request.headers.authorization) ?? "api"),
    fallback: (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: the management API lives under /gantry.api.v1.ManagementService/\n");
    },
  });
  const failures = new FailedAuthLimiter({ perMinute: limits.authFailuresPerMinute, clock: timers });
  return listenHttp(
    gateRequests(handler, { auth, failures, maxBodyBytes: limits.maxBodyBytes, timers }),
    options.host,
    options.port,
    limits,
    timers,
    options.tls,
  );
}
