import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { HeaderValueOption_HeaderAppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import {
  type HeaderMatcherSchema,
  RedirectAction_RedirectResponseCode,
  type Route,
  type RouteMatchSchema,
  RouteSchema,
  type VirtualHost,
  VirtualHost_TlsRequirementType,
  VirtualHostSchema,
} from "../../gen/envoy/config/route/v3/route_components_pb.js";
import { type RouteConfiguration, RouteConfigurationSchema } from "../../gen/envoy/config/route/v3/route_pb.js";
import { CorsPolicySchema } from "../../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { ExtAuthzPerRouteSchema } from "../../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { HTTPFaultSchema } from "../../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { RateLimitPerRouteSchema } from "../../gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
import { FractionalPercent_DenominatorType } from "../../gen/envoy/type/v3/percent_pb.js";
import type { ModelCors, ModelFault, ModelHeaders, ModelMatch, ModelRoute, ModelVirtualHost } from "../model.js";
import { duration, filterNames, pack, sortedRecord } from "./common.js";
import { routeRbacConfigs } from "./rbac.js";

/** What the client can do: Envoy has every filter; proxyless gRPC has fault injection only. */
export type ClientKind = "envoy" | "grpc";

const redirectCodes: Record<number, RedirectAction_RedirectResponseCode> = {
  301: RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
  302: RedirectAction_RedirectResponseCode.FOUND,
  303: RedirectAction_RedirectResponseCode.SEE_OTHER,
  307: RedirectAction_RedirectResponseCode.TEMPORARY_REDIRECT,
  308: RedirectAction_RedirectResponseCode.PERMANENT_REDIRECT,
};

function stringMatch(value: string, regex: boolean) {
  return regex
    ? { matchPattern: { case: "safeRegex" as const, value: { regex: value } } }
    : { matchPattern: { case: "exact" as const, value } };
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The RouteMatch of a model match: path, headers (methods as `:method`), query parameters. */
export function buildRouteMatch(match: ModelMatch): MessageInitShape<typeof RouteMatchSchema> {
  const path = match.path;
  const headers: MessageInitShape<typeof HeaderMatcherSchema>[] = match.headers.map((h) => ({
    name: h.name,
    invertMatch: h.invert,
    headerMatchSpecifier:
      h.value === ""
        ? { case: "presentMatch", value: true }
        : { case: "stringMatch", value: stringMatch(h.value, h.regex) },
  }));
  if (match.methods.length > 0) {
    const single = match.methods.length === 1 ? match.methods[0] : undefined;
    headers.push({
      name: ":method",
      headerMatchSpecifier: {
        case: "stringMatch",
        value:
          single !== undefined
            ? stringMatch(single, false)
            : stringMatch(match.methods.map(escapeRegex).join("|"), true),
      },
    });
  }
  return {
    pathSpecifier:
      path.kind === "exact"
        ? { case: "path", value: path.value }
        : path.kind === "prefix"
          ? { case: "prefix", value: path.value }
          : { case: "safeRegex", value: { regex: path.value } },
    ...(match.ignoreCase ? { caseSensitive: false } : {}),
    headers,
    queryParameters: match.queryParams.map((q) => ({
      name: q.name,
      queryParameterMatchSpecifier:
        q.value === ""
          ? { case: "presentMatch", value: true }
          : { case: "stringMatch", value: stringMatch(q.value, q.regex) },
    })),
  };
}

function fractionalPercent(percentage: number) {
  return { numerator: Math.round(percentage * 10_000), denominator: FractionalPercent_DenominatorType.MILLION };
}

export function buildFault(fault: ModelFault) {
  return pack(HTTPFaultSchema, {
    ...(fault.abort
      ? {
          abort: {
            errorType:
              fault.abort.grpcStatus !== undefined
                ? { case: "grpcStatus", value: fault.abort.grpcStatus }
                : { case: "httpStatus", value: fault.abort.httpStatus ?? 500 },
            percentage: fractionalPercent(fault.abort.percentage),
          },
        }
      : {}),
    ...(fault.delay
      ? {
          delay: {
            faultDelaySecifier: { case: "fixedDelay", value: duration(fault.delay.fixedDelayMs) },
            percentage: fractionalPercent(fault.delay.percentage),
          },
        }
      : {}),
  });
}

function headerOptions(headers: ModelHeaders["requestAdd"]) {
  return headers.map((h) => ({
    header: { key: h.name, value: h.value },
    appendAction: h.append
      ? HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD
      : HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
  }));
}

// Per-route overrides repeat across routes (the same auth config, the same fault): each distinct
// one is packed once and shared, which is safe because messages are never changed once built.
const packed = new Map<string, Any>();
const packedLimit = 10_000;

function packOnce(key: string, make: () => Any): Any {
  let any = packed.get(key);
  if (!any) {
    any = make();
    if (packed.size >= packedLimit) packed.clear();
    packed.set(key, any);
  }
  return any;
}

/** Per-filter overrides of one route, for the filters this client kind has. */
function perFilterConfig(route: ModelRoute, client: ClientKind, listenerHasExtAuth: boolean): Record<string, Any> {
  const p = route.policies;
  const entries: [string, Any][] = [];
  const fault = p.fault;
  if (fault) entries.push([filterNames.fault, packOnce(`fault|${JSON.stringify(fault)}`, () => buildFault(fault))]);
  if (client === "envoy") {
    const cors = p.cors;
    if (cors) {
      entries.push([filterNames.cors, packOnce(`cors|${JSON.stringify(cors)}`, () => buildCors(cors))]);
    }
    // The ext_authz filter checks every route it sees; routes without a policy turn it off.
    if (listenerHasExtAuth) {
      const ext = p.extAuth;
      const configId = ext && "configId" in ext ? ext.configId : undefined;
      entries.push([
        filterNames.extAuthz,
        packOnce(`ext_authz|${configId ?? ""}`, () => buildExtAuthzPerRoute(configId)),
      ]);
    }
    const access = p.access;
    if (access) {
      for (const [name, config] of routeRbacConfigs(access)) entries.push([name, config]);
    }
    const rateLimit = p.rateLimit;
    if (rateLimit) {
      entries.push([
        filterNames.rateLimit,
        packOnce(`ratelimit|${rateLimit.domain}`, () => pack(RateLimitPerRouteSchema, { domain: rateLimit.domain })),
      ]);
    }
  }
  return sortedRecord(entries);
}

function buildCors(cors: ModelCors): Any {
  return pack(CorsPolicySchema, {
    allowOriginStringMatch: [
      ...cors.allowOrigins.map((o) => stringMatch(o, false)),
      ...cors.allowOriginRegexes.map((o) => stringMatch(o, true)),
    ],
    allowMethods: cors.allowMethods.join(","),
    allowHeaders: cors.allowHeaders.join(","),
    exposeHeaders: cors.exposeHeaders.join(","),
    ...(cors.maxAgeSeconds !== undefined ? { maxAge: String(cors.maxAgeSeconds) } : {}),
    allowCredentials: cors.allowCredentials,
  });
}

/** ext_authz for one route: check with this auth config id, or (no id) do not check. */
function buildExtAuthzPerRoute(configId: string | undefined): Any {
  return pack(ExtAuthzPerRouteSchema, {
    override:
      configId !== undefined
        ? { case: "checkSettings", value: { contextExtensions: { config_id: configId } } }
        : { case: "disabled", value: true },
  });
}

/** One Envoy route from a model route, with the features the client kind supports. */
export function buildRoute(route: ModelRoute, client: ClientKind, listenerHasExtAuth: boolean): Route {
  const p = route.policies;
  const action = route.action;
  const headers = client === "envoy" ? p.headers : undefined;
  const common = {
    name: route.name,
    match: buildRouteMatch(route.match),
    typedPerFilterConfig: perFilterConfig(route, client, listenerHasExtAuth),
    ...(headers
      ? {
          requestHeadersToAdd: headerOptions(headers.requestAdd),
          requestHeadersToRemove: headers.requestRemove,
          responseHeadersToAdd: headerOptions(headers.responseAdd),
          responseHeadersToRemove: headers.responseRemove,
        }
      : {}),
  };
  if (action.type === "redirect") {
    return create(RouteSchema, {
      ...common,
      action: {
        case: "redirect",
        value: {
          hostRedirect: action.host,
          ...(action.https ? { schemeRewriteSpecifier: { case: "httpsRedirect", value: true } } : {}),
          ...(action.path !== "" ? { pathRewriteSpecifier: { case: "pathRedirect", value: action.path } } : {}),
          responseCode: redirectCodes[action.responseCode] ?? RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
        },
      },
    });
  }
  if (action.type === "direct") {
    return create(RouteSchema, {
      ...common,
      action: {
        case: "directResponse",
        value: {
          status: action.status,
          ...(action.body !== "" ? { body: { specifier: { case: "inlineString", value: action.body } } } : {}),
        },
      },
    });
  }
  const single = action.destinations.length === 1 ? action.destinations[0] : undefined;
  const timeoutMs = action.timeoutMs ?? p.timeoutMs;
  const rewrite = action.pathRewrite;
  const retry = p.retry;
  return create(RouteSchema, {
    ...common,
    action: {
      case: "route",
      value: {
        clusterSpecifier:
          single !== undefined
            ? { case: "cluster", value: single.cluster }
            : {
                case: "weightedClusters",
                value: { clusters: action.destinations.map((d) => ({ name: d.cluster, weight: d.weight })) },
              },
        ...(rewrite !== undefined && route.match.path.kind !== "regex" ? { prefixRewrite: rewrite } : {}),
        ...(rewrite !== undefined && route.match.path.kind === "regex"
          ? { regexRewrite: { pattern: { regex: route.match.path.value }, substitution: rewrite } }
          : {}),
        ...(action.hostRewrite !== undefined
          ? { hostRewriteSpecifier: { case: "hostRewriteLiteral", value: action.hostRewrite } }
          : {}),
        // gRPC clients take the deadline from max_stream_duration; Envoy from timeout.
        ...(timeoutMs !== undefined && client === "envoy" ? { timeout: duration(timeoutMs) } : {}),
        ...(timeoutMs !== undefined && client === "grpc"
          ? { maxStreamDuration: { maxStreamDuration: duration(timeoutMs) } }
          : {}),
        ...(retry
          ? {
              retryPolicy: {
                retryOn: retry.retryOn.join(","),
                numRetries: retry.attempts,
                ...(retry.perTryTimeoutMs !== undefined ? { perTryTimeout: duration(retry.perTryTimeoutMs) } : {}),
                retriableStatusCodes: retry.retriableStatusCodes,
              },
            }
          : {}),
        ...(p.rateLimit && client === "envoy" ? { rateLimits: p.rateLimit.rateLimits } : {}),
      },
    },
  });
}

/**
 * A virtual host per route table (its host set), holding the routes already built. Plain-HTTP
 * listeners with httpsRedirect require TLS, which makes Envoy redirect to https.
 */
export function buildVirtualHost(vhost: ModelVirtualHost, routes: Route[], httpsRedirect: boolean): VirtualHost {
  return create(VirtualHostSchema, {
    name: vhost.name,
    domains: vhost.domains,
    routes,
    ...(httpsRedirect ? { requireTls: VirtualHost_TlsRequirementType.ALL } : {}),
  });
}

export function buildRouteConfiguration(name: string, virtualHosts: VirtualHost[]): RouteConfiguration {
  return create(RouteConfigurationSchema, { name, virtualHosts });
}
