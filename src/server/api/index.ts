import { Code, ConnectError, createContextValues, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ManagementService } from "../../gen/gantry/api/v1/management_pb.js";
import { TrustAdminService } from "../../gen/gantry/api/v1/trust_pb.js";
import { systemClock, type Timers } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { TlsFileWatch } from "../../lib/tls.js";
import { ApiAuth, callerKey, type IdTokenVerifier } from "./auth.js";
import { FailedAuthLimiter } from "./failed-auth.js";
import { type ApiHandler, callerOf, gateRequests } from "./gate.js";
import { type ApiListener, listenHttp } from "./http.js";
import { type ApiLimits, resolveApiLimits } from "./limits.js";
import { withParseErrorsAsInvalid } from "./parse-errors.js";
import { refusalOf, type TokenEntry } from "./roles.js";
import { type ManagementDeps, managementService } from "./service.js";
import { trustAdminService } from "./trust.js";

export {
  ApiAuth,
  type ApiCaller,
  checkApiTokens,
  type Identification,
  type IdTokenVerifier,
  minApiTokenLength,
  type Role,
} from "./auth.js";
export type { ApiHandler, ApiRequest, ApiResponse } from "./gate.js";
export { type ApiLimits, apiLimitFlags, defaultApiLimits, resolveApiLimits } from "./limits.js";
export { isRole, parseGroupRoles, parseTokensFile, roleOfGroups, type TokenEntry } from "./roles.js";
export type { ManagementDeps, ProxyClientView, ProxyStatusView } from "./service.js";

export interface ManagementApiOptions {
  host: string;
  port: number;
  /** The bearer token every call must present; `undefined` only with `insecure` (local development). */
  token: string | undefined;
  /** The token that may also ask to see secret material; without it, nobody may. */
  secretsToken?: string | undefined;
  /** More tokens, each with a role (`--api-tokens-file`). */
  tokens?: readonly TokenEntry[];
  /** Accepts the UI's OIDC ID tokens as bearer tokens. */
  oidc?: IdTokenVerifier;
  insecure?: boolean;
  /** Defaults in `defaultApiLimits`. */
  limits?: Partial<ApiLimits>;
  deps: ManagementDeps;
  logger?: Logger;
  /** For the failed-authentication budget and the HTTP/2 timeouts. Default the system clock. */
  timers?: Timers;
  /** Serve HTTPS (ALPN h2 and http/1.1) with the certificates this watch holds; stopped with the API. */
  tls?: TlsFileWatch;
  /**
   * Requests under `/ui` (the dashboard's files and its sign-in) go here without the token gate:
   * they carry no API call, and the page needs them before it has a token.
   */
  ui?: ApiHandler;
}

/** Refuses a call the caller's role does not allow, before the handler runs. */
const enforceRoles: Interceptor = (next) => async (request) => {
  const refusal = refusalOf(request.contextValues.get(callerKey), request.method.localName, request.method.name);
  if (refusal) throw new ConnectError(refusal, Code.PermissionDenied);
  return next(request);
};

const isUiPath = (url: string | undefined) =>
  url === "/ui" ||
  url?.startsWith("/ui/") === true ||
  url?.startsWith("/ui?") === true ||
  url === "/favicon.ico" ||
  url?.startsWith("/favicon.ico?") === true;

/** The paths of the API's services: only calls to them need a token (and spend the failed-auth budget). */
const apiPrefixes = [`/${ManagementService.typeName}/`, `/${TrustAdminService.typeName}/`];
const isApiPath = (url: string | undefined) => apiPrefixes.some((prefix) => url?.startsWith(prefix) === true);

/**
 * Any other path (a browser's /favicon.ico without the dashboard, /robots.txt, a scanner's
 * guesses) is no API call: answered 404 without a token, and never counted as a failed
 * authentication, so a browser's habits cannot lock its address out of the API.
 */
const notFound: ApiHandler = (request, response) => {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  // A body sent with it is not read: an HTTP/1.1 connection then ends rather than drain it.
  const bodiless = request.method === "GET" || request.method === "HEAD";
  if (request.httpVersionMajor === 1 && !bodiless) headers["connection"] = "close";
  response.writeHead(404, headers);
  response.end("not found: the management API lives under /gantry.api.v1.ManagementService/\n");
};

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
    ...(options.tokens ? { tokens: options.tokens } : {}),
    ...(options.oidc ? { oidc: options.oidc } : {}),
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
    interceptors: [enforceRoles],
    // The gate identified the caller before letting the request through (nothing else reaches
    // here); were it missing, the key's default is the least: a viewer without secrets.
    contextValues: (request) => {
      const caller = callerOf(request);
      return caller ? createContextValues().set(callerKey, caller) : createContextValues();
    },
    fallback: (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: no such method of the management API\n");
    },
  });
  const failures = new FailedAuthLimiter({ perMinute: limits.authFailuresPerMinute, clock: timers });
  const gated = gateRequests(handler, { auth, failures, maxBodyBytes: limits.maxBodyBytes, timers });
  const ui = options.ui;
  return listenHttp(
    (request, response) => {
      if (isApiPath(request.url)) gated(request, response);
      else if (ui && isUiPath(request.url)) ui(request, response);
      else notFound(request, response);
    },
    options.host,
    options.port,
    limits,
    timers,
    options.tls,
  );
}
