// Builders for the Envoy resources a feature test expects, in protobuf JSON (what `toJson` gives
// for the decoded resource, default values left out). One small function per Envoy type, so a test
// says what it expects in the terms of the feature, Contour's featuretests style.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { extAuthAddress, rateLimitAddress } from "./harness.js";

type Json = JsonObject;

const typePrefix = "type.googleapis.com/";
export const typed = (typeName: string, fields: Json = {}): Json => ({
  ...fields,
  "@type": `${typePrefix}${typeName}`,
});

/** A config source: over the ADS stream the proxy already has. */
export const overAds: Json = { ads: {}, resourceApiVersion: "V3" };

// HTTP filters, in the order Gantry puts them.

export const routerFilter: Json = {
  name: "envoy.filters.http.router",
  typedConfig: typed("envoy.extensions.filters.http.router.v3.Router"),
};
export const corsFilter: Json = {
  name: "envoy.filters.http.cors",
  typedConfig: typed("envoy.extensions.filters.http.cors.v3.Cors"),
};
export const faultFilter: Json = {
  name: "envoy.filters.http.fault",
  typedConfig: typed("envoy.extensions.filters.http.fault.v3.HTTPFault"),
};
export const extAuthzFilter: Json = {
  name: "envoy.filters.http.ext_authz",
  typedConfig: typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", {
    grpcService: { envoyGrpc: { clusterName: "gantry-extauth" }, timeout: "1s" },
    transportApiVersion: "V3",
  }),
};
export const rateLimitFilter: Json = {
  name: "envoy.filters.http.ratelimit",
  typedConfig: typed("envoy.extensions.filters.http.ratelimit.v3.RateLimit", {
    domain: "gantry",
    timeout: "0.100s",
    rateLimitService: { grpcService: { envoyGrpc: { clusterName: "gantry-ratelimit" } }, transportApiVersion: "V3" },
  }),
};

/** The HttpConnectionManager of a listener whose routes come by RDS under `routeConfigName`. */
function connectionManager(statPrefix: string, routeConfigName: string, filters: Json[]): Json {
  return typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
    statPrefix,
    rds: { configSource: overAds, routeConfigName },
    httpFilters: filters,
    // Tracing on, the provider left to the bootstrap (docs/observability.md).
    tracing: { randomSampling: { value: 1 } },
  });
}

/** An Envoy gateway listener `name` on 0.0.0.0:`port`, routes by RDS of the same name. */
export function listener(
  name: string,
  port: number,
  options: { filters?: Json[]; address?: string; transportSocket?: Json } = {},
): Json {
  const chain: Json = {
    filters: [
      {
        name: "envoy.filters.network.http_connection_manager",
        typedConfig: connectionManager(name, name, options.filters ?? [routerFilter]),
      },
    ],
  };
  if (options.transportSocket) chain["transportSocket"] = options.transportSocket;
  return {
    name,
    address: { socketAddress: { address: options.address ?? "0.0.0.0", portValue: port } },
    filterChains: [chain],
  };
}

/** A proxyless gRPC client's listener for one host: an api_listener on the gateway's routes. */
export function apiListener(host: string, routeConfigName: string, filters: Json[] = [routerFilter]): Json {
  return { name: host, apiListener: { apiListener: connectionManager(host, routeConfigName, filters) } };
}

/** The TLS a listener terminates: certificates (and a client CA) from SDS. */
export function downstreamTls(certificate: string, clientCa?: string): Json {
  const context: Json = { tlsCertificateSdsSecretConfigs: [{ name: certificate, sdsConfig: overAds }] };
  if (clientCa) context["validationContextSdsSecretConfig"] = { name: clientCa, sdsConfig: overAds };
  return {
    name: "envoy.transport_sockets.tls",
    typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
      commonTlsContext: context,
      ...(clientCa ? { requireClientCertificate: true } : {}),
    }),
  };
}

export function routeConfig(name: string, virtualHosts: Json[]): Json {
  return { name, virtualHosts };
}

export function virtualHost(name: string, domains: string[], routes: Json[], extra: Json = {}): Json {
  return { name, domains, routes, ...extra };
}

/** A route: its name, its match, and its action with any extra route fields. */
export function route(name: string, match: Json, action: Json, extra: Json = {}): Json {
  return { match, ...action, ...extra, name };
}

export const prefix = (p: string, extra: Json = {}): Json => ({ prefix: p, ...extra });
export const path = (p: string, extra: Json = {}): Json => ({ path: p, ...extra });

/** Forward to one cluster, with extra `RouteAction` fields. */
export function toCluster(cluster: string, extra: Json = {}): Json {
  return { route: { cluster, ...extra } };
}

/** Forward to weighted clusters. */
export function toWeighted(clusters: Array<[string, number]>, extra: Json = {}): Json {
  return { route: { weightedClusters: { clusters: clusters.map(([name, weight]) => ({ name, weight })) }, ...extra } };
}

export function directResponse(status: number, body?: string): Json {
  return { directResponse: { status, ...(body === undefined ? {} : { body: { inlineString: body } }) } };
}

/** The per-route ext_authz config naming an AuthConfig by its config id. */
export function extAuthzPerRoute(configId: string): Json {
  return typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", {
    checkSettings: { contextExtensions: { config_id: configId } },
  });
}

export const extAuthzDisabled: Json = typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", {
  disabled: true,
});

export function rateLimitPerRoute(domain: string): Json {
  return typed("envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute", { domain });
}

export function corsPolicy(fields: Json): Json {
  return typed("envoy.extensions.filters.http.cors.v3.CorsPolicy", fields);
}

export function faultPerRoute(fields: Json): Json {
  return typed("envoy.extensions.filters.http.fault.v3.HTTPFault", fields);
}

/** A fraction of requests, as Envoy's FractionalPercent in millionths. */
export function perMillion(percent: number): Json {
  return { numerator: Math.round(percent * 10_000), denominator: "MILLION" };
}

const http2Options: Json = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    { explicitHttpConfig: { http2ProtocolOptions: {} } },
  ),
};

/** A cluster whose endpoints come by EDS; `http2` for HTTP2 and GRPC ports. */
export function edsCluster(name: string, options: { http2?: boolean; connectTimeout?: string; extra?: Json } = {}) {
  return {
    name,
    type: "EDS",
    edsClusterConfig: { edsConfig: overAds },
    connectTimeout: options.connectTimeout ?? "5s",
    ...(options.http2 ? { typedExtensionProtocolOptions: http2Options } : {}),
    ...options.extra,
  };
}

/** A cluster resolving a DNS name (LOGICAL_DNS), its one endpoint inline. */
export function dnsCluster(name: string, host: string, port: number, extra: Json = {}): Json {
  return {
    name,
    type: "LOGICAL_DNS",
    connectTimeout: "5s",
    ...extra,
    loadAssignment: loadAssignment(name, [locality({}, [endpoint(host, port)])]),
  };
}

/** The cluster of Gantry's ext-auth or rate-limit service, as proxies get it when a route needs it. */
export function serviceCluster(name: "gantry-extauth" | "gantry-ratelimit"): Json {
  const { host, port } = name === "gantry-extauth" ? extAuthAddress : rateLimitAddress;
  return {
    name,
    type: "LOGICAL_DNS",
    connectTimeout: "1s",
    loadAssignment: loadAssignment(name, [locality({}, [endpoint(host, port)])]),
    typedExtensionProtocolOptions: http2Options,
  };
}

/** The TLS a cluster originates: SNI and a CA (and client certificate) from SDS. */
export function upstreamTls(fields: { ca?: string; sni?: string; clientCertificate?: string }): Json {
  const context: Json = {};
  if (fields.clientCertificate) {
    context["tlsCertificateSdsSecretConfigs"] = [{ name: fields.clientCertificate, sdsConfig: overAds }];
  }
  if (fields.ca) context["validationContextSdsSecretConfig"] = { name: fields.ca, sdsConfig: overAds };
  return {
    name: "envoy.transport_sockets.tls",
    typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
      commonTlsContext: context,
      ...(fields.sni ? { sni: fields.sni } : {}),
    }),
  };
}

export function endpoint(address: string, port: number, weight = 1): Json {
  return { endpoint: { address: { socketAddress: { address, portValue: port } } }, loadBalancingWeight: weight };
}

/** The endpoints of one locality; its weight defaults to the sum of theirs. */
export function locality(where: Json, endpoints: Json[], weight?: number): Json {
  const sum = endpoints.reduce((total, e) => total + Number(e["loadBalancingWeight"] as JsonValue), 0);
  return { locality: where, lbEndpoints: endpoints, loadBalancingWeight: weight ?? sum };
}

export function loadAssignment(clusterName: string, localities: Json[]): Json {
  return { clusterName, endpoints: localities };
}

/** An SDS secret with a certificate chain and key, from files or inline. */
export function certificateSecret(name: string, chain: Json, key: Json): Json {
  return { name, tlsCertificate: { certificateChain: chain, privateKey: key } };
}

/** An SDS secret holding a CA bundle (a validation context). */
export function caSecret(name: string, certificates: Json): Json {
  return { name, validationContext: { trustedCa: certificates } };
}

export const file = (filename: string): Json => ({ filename });
export const inline = (text: string): Json => ({ inlineString: text });

/** An endpoint with its EDS health status (`HEALTHY`, `UNHEALTHY`, `DRAINING`). */
export function withHealth(lbEndpoint: Json, healthStatus: string): Json {
  return { ...lbEndpoint, healthStatus };
}

/** A locality at an EDS priority (0, the first, is left out as protobuf JSON leaves out defaults). */
export function atPriority(localityEndpoints: Json, priority: number): Json {
  return priority === 0 ? localityEndpoints : { ...localityEndpoints, priority };
}

/** A VirtualDestination cluster's outlier detection with no FailoverPolicy (docs/multicluster-routing.md). */
export const defaultOutlierDetection: Json = {
  consecutive5xx: 5,
  interval: "10s",
  baseEjectionTime: "30s",
  maxEjectionPercent: 100,
};
