// Builders for the Envoy resources of Gantry's mesh features, in protobuf JSON as envoy.ts's: workload
// mTLS (Destination workloadTls), east-west gateways, AccessPolicies as RBAC, and the Listeners of
// xDS-enabled gRPC servers.
import type { JsonObject } from "@bufbuild/protobuf";
import { overAds, routerFilter, typed } from "./envoy.js";

type Json = JsonObject;

// Gantry's workload mTLS (docs/security.md): Envoy gets the SDS secrets `default` (its certificate)
// and `ROOTCA` (the trust bundle); gRPC the certificate provider instance `gantry`.

const sanMatchers = (identities: string[]): Json[] =>
  identities.map((id) => ({ sanType: "URI", matcher: { exact: id } }));

/** The validation an Envoy client of a workload-TLS peer does: the trust bundle, and the peer's SPIFFE IDs. */
function workloadValidation(identities: string[]): Json {
  return {
    combinedValidationContext: {
      defaultValidationContext: { matchTypedSubjectAltNames: sanMatchers(identities) },
      validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: overAds },
    },
  };
}

/** The transport socket of an Envoy cluster to a Destination with `workloadTls` SIMPLE or MUTUAL. */
export function workloadTls(mode: "SIMPLE" | "MUTUAL", identities: string[], sni?: string): Json {
  return {
    name: "envoy.transport_sockets.tls",
    typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
      ...(sni ? { sni } : {}),
      commonTlsContext: {
        ...(mode === "MUTUAL" ? { tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: overAds }] } : {}),
        ...workloadValidation(identities),
      },
    }),
  };
}

const gantryProvider: Json = { instanceName: "gantry" };

/** The transport socket of a proxyless gRPC client's cluster to a workload-TLS Destination (gRFC A29). */
export function grpcWorkloadTls(mode: "SIMPLE" | "MUTUAL", identities: string[], sni?: string): Json {
  return {
    name: "envoy.transport_sockets.tls",
    typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
      ...(sni ? { sni } : {}),
      commonTlsContext: {
        ...(mode === "MUTUAL" ? { tlsCertificateProviderInstance: gantryProvider } : {}),
        validationContext: {
          caCertificateProviderInstance: gantryProvider,
          matchSubjectAltNames: identities.map((id) => ({ exact: id })),
        },
      },
    }),
  };
}

// East-west gateways (docs/multicluster-routing.md#east-west-gateways).

const viaGateway: Json = { "gantry.io/via": "east-west-gateway" };

/** An endpoint that is another cluster's east-west gateway, marked for the cluster's socket match. */
export function gatewayEndpoint(address: string, port: number): Json {
  return {
    endpoint: { address: { socketAddress: { address, portValue: port } } },
    metadata: { filterMetadata: { "envoy.transport_socket_match": viaGateway } },
    loadBalancingWeight: 1,
  };
}

/** The transport socket match of a VirtualDestination cluster for endpoints reached through gateways. */
export function eastWestSocketMatch(sni: string, identities: string[] = []): Json {
  const trustBundle = { name: "ROOTCA", sdsConfig: overAds };
  return {
    name: "east-west-gateway",
    match: viaGateway,
    transportSocket: {
      name: "envoy.transport_sockets.tls",
      typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
        sni,
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: overAds }],
          ...(identities.length === 0
            ? { validationContextSdsSecretConfig: trustBundle }
            : workloadValidation(identities)),
        },
      }),
    },
  };
}

/** An east-west gateway's listener: TLS inspected for its SNI, each SNI passed by tcp_proxy to its cluster. */
export function eastWestListener(name: string, port: number, chains: Array<[sni: string, cluster: string]>): Json {
  return {
    name,
    address: { socketAddress: { address: "0.0.0.0", portValue: port } },
    listenerFilters: [
      {
        name: "envoy.filters.listener.tls_inspector",
        typedConfig: typed("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
      },
    ],
    filterChains: chains.map(([sni, cluster]) => ({
      name: sni,
      filterChainMatch: { serverNames: [sni] },
      filters: [
        {
          name: "envoy.filters.network.tcp_proxy",
          typedConfig: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
            statPrefix: cluster,
            cluster,
          }),
        },
      ],
    })),
  };
}

// AccessPolicies as RBAC (docs/security.md#accesspolicy).

const rbacType = "envoy.extensions.filters.http.rbac.v3.RBAC";
const rbacPerRouteType = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

/** The RBAC filters Envoy listeners carry, without rules: routes set theirs. */
export const rbacListenerFilters: Json[] = [
  { name: "gantry.access.deny", typedConfig: typed(rbacType) },
  { name: "gantry.access.allow", typedConfig: typed(rbacType) },
];

/**
 * RBAC rules: DENY or ALLOW (the default, which JSON leaves out), one policy per AccessPolicy rule.
 * No policy at all (JSON leaves the empty map out) is, for ALLOW, every request refused.
 */
export function rbacRules(action: "ALLOW" | "DENY", policies: Record<string, Json>): Json {
  return { ...(action === "DENY" ? { action } : {}), ...(Object.keys(policies).length > 0 ? { policies } : {}) };
}

/** One RBAC policy: what a request must be (`permission`), and who sends it (`principal`). */
export function rbacPolicy(permission: Json, principal: Json): Json {
  return { permissions: [permission], principals: [principal] };
}

export const anyRequest: Json = { any: true };
export const anyCaller: Json = { any: true };
export const orRules = (rules: Json[]): Json => ({ orRules: { rules } });
export const andRules = (rules: Json[]): Json => ({ andRules: { rules } });
export const urlPath = (matcher: Json): Json => ({ urlPath: { path: matcher } });
export const headerIs = (name: string, value: string): Json => ({ header: { name, stringMatch: { exact: value } } });
export const headerPresent = (name: string): Json => ({ header: { name, presentMatch: true } });
/** Callers whose verified certificate's SPIFFE ID matches one of these. */
export const principals = (matchers: Json[]): Json => ({
  orIds: { ids: matchers.map((principalName) => ({ authenticated: { principalName } })) },
});

/** The RBAC filters of a gRPC server's Listener: denials first, each only when some rule needs it. */
export function rbacServerFilters(rules: { deny?: Json; allow?: Json }): Json[] {
  return [
    ...(rules.deny ? [{ name: "gantry.access.deny", typedConfig: typed(rbacType, { rules: rules.deny }) }] : []),
    ...(rules.allow ? [{ name: "gantry.access.allow", typedConfig: typed(rbacType, { rules: rules.allow }) }] : []),
  ];
}

/** A route's RBAC overrides for both filters: its rules, or the filter off ({}) where it has none. */
export function rbacPerRoute(rules: { deny?: Json; allow?: Json }): Json {
  return {
    "gantry.access.deny": typed(rbacPerRouteType, rules.deny ? { rbac: { rules: rules.deny } } : {}),
    "gantry.access.allow": typed(rbacPerRouteType, rules.allow ? { rbac: { rules: rules.allow } } : {}),
  };
}

/**
 * The name an xDS-enabled gRPC server asks for its Listener by (gRFC A36, Gantry's bootstrap
 * template): its listening address and port, an IPv6 address in brackets.
 */
export const serverListenerName = (address: string, port: number): string =>
  `grpc/server?xds.resource.listening_address=${address.includes(":") ? `[${address}]` : address}:${port}`;

/**
 * An xDS-enabled gRPC server's Listener: its listening address, routes inline (one route that the
 * server answers itself), the RBAC filters, and its workload TLS (none for DISABLE).
 */
export function serverListener(
  address: string,
  port: number,
  destination: string,
  options: { filters?: Json[]; tls?: "SIMPLE" | "MUTUAL" } = {},
): Json {
  const name = serverListenerName(address, port);
  const hcm = typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
    statPrefix: name,
    routeConfig: {
      name: `${destination}/server`,
      virtualHosts: [
        { name: destination, domains: ["*"], routes: [{ match: { prefix: "" }, nonForwardingAction: {} }] },
      ],
    },
    httpFilters: [...(options.filters ?? []), routerFilter],
  });
  const chain: Json = { filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: hcm }] };
  if (options.tls) {
    chain["transportSocket"] = {
      name: "envoy.transport_sockets.tls",
      typedConfig: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
        ...(options.tls === "MUTUAL" ? { requireClientCertificate: true } : {}),
        commonTlsContext: {
          tlsCertificateProviderInstance: gantryProvider,
          ...(options.tls === "MUTUAL" ? { validationContext: { caCertificateProviderInstance: gantryProvider } } : {}),
        },
      }),
    };
  }
  return { name, address: { socketAddress: { address, portValue: port } }, filterChains: [chain] };
}
