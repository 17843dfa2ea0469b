// Builders for the Gantry resources a feature test applies (`gantry/v1` documents, in their JSON
// form, as `gantry apply` sends them). Refs are written `namespace/name`.

/** A field of a spec, in the proto JSON form `gantry apply` reads. */
export type Spec = { [field: string]: unknown };

export interface Document {
  apiVersion: "gantry/v1";
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; clusters?: string[] };
  spec: Spec;
}

function split(ref: string): { namespace: string; name: string } {
  const [namespace = "", name = ""] = ref.split("/");
  if (!namespace || !name) throw new Error(`"${ref}" is not namespace/name`);
  return { namespace, name };
}

export function resource(kind: string, ref: string, spec: Spec, labels?: Record<string, string>): Document {
  return { apiVersion: "gantry/v1", kind, metadata: { ...split(ref), ...(labels ? { labels } : {}) }, spec };
}

/** An Envoy gateway for the nodes with these labels, listening on `listeners`. */
export function gateway(ref: string, labels: Record<string, string>, listeners: Spec[], extra: Spec = {}): Document {
  return resource("Gateway", ref, { proxies: { labels }, listeners, ...extra });
}

/** A proxyless gRPC gateway for the clients with these labels. */
export function grpcGateway(ref: string, labels: Record<string, string>, extra: Spec = {}): Document {
  return resource("Gateway", ref, { kind: "GRPC_PROXYLESS", proxies: { labels }, ...extra });
}

/** A root route table: hosts, the gateways (names in its namespace) it attaches to, routes. */
export function routeTable(
  ref: string,
  hosts: string[],
  gateways: string[],
  http: Spec[],
  extra: { labels?: Record<string, string>; weight?: number } = {},
): Document {
  return resource(
    "RouteTable",
    ref,
    { hosts, gateways: gateways.map((name) => ({ name })), http, ...(extra.weight ? { weight: extra.weight } : {}) },
    extra.labels,
  );
}

/** A route table delegated to (no hosts, no gateways). */
export function childTable(ref: string, http: Spec[], labels?: Record<string, string>, weight?: number): Document {
  return resource("RouteTable", ref, { http, ...(weight ? { weight } : {}) }, labels);
}

/** A destination with one port and static endpoints. */
export function destination(
  ref: string,
  port: number | Spec,
  addresses: Array<string | Spec>,
  extra: Spec = {},
  labels?: Record<string, string>,
): Document {
  return resource(
    "Destination",
    ref,
    {
      ports: [typeof port === "number" ? { number: port } : port],
      endpoints: addresses.map((a) => (typeof a === "string" ? { address: a } : a)),
      ...extra,
    },
    labels,
  );
}

export function secret(ref: string, spec: Spec): Document {
  return resource("Secret", ref, spec);
}

export function authConfig(ref: string, spec: Spec): Document {
  return resource("AuthConfig", ref, spec);
}

export type PolicyKind =
  | "ExtAuthPolicy"
  | "RateLimitPolicy"
  | "RetryTimeoutPolicy"
  | "FaultInjectionPolicy"
  | "CORSPolicy"
  | "HeaderPolicy";

/** A policy applied to the routes with these labels. */
export function policy(kind: PolicyKind, ref: string, routeLabels: Record<string, string>, spec: Spec): Document {
  return resource(kind, ref, { applyToRoutes: [{ route: { labels: routeLabels } }], ...spec });
}

/** An HTTP route: `name`, matchers, and one action (`forward`, `redirect`, `direct`, `delegate`). */
export function httpRoute(name: string, matchers: Spec[], action: Spec, labels?: Record<string, string>): Spec {
  return { name, ...(labels ? { labels } : {}), ...(matchers.length > 0 ? { matchers } : {}), ...action };
}

/** `forwardTo` the destinations given (by name, or as weighted destination specs). */
export function forward(destinations: Array<string | Spec>, extra: Spec = {}): Spec {
  return {
    forwardTo: {
      destinations: destinations.map((d) => (typeof d === "string" ? { destination: { name: d } } : d)),
      ...extra,
    },
  };
}

export const prefixMatch = (prefix: string, extra: Spec = {}): Spec => ({ prefix, ...extra });
export const exactMatch = (exact: string, extra: Spec = {}): Spec => ({ exact, ...extra });

/** The document placed in workload clusters (`metadata.clusters`). */
export function placed(document: Document, clusters: string[]): Document {
  return { ...document, metadata: { ...document.metadata, clusters } };
}

/** A VirtualDestination over member Destinations (`destinations`, `destinationSelector`). */
export function virtualDestination(ref: string, ports: Spec[], members: Spec, extra: Spec = {}): Document {
  return resource("VirtualDestination", ref, { ports, ...members, ...extra });
}

export function failoverPolicy(ref: string, spec: Spec): Document {
  return resource("FailoverPolicy", ref, spec);
}

export function accessPolicy(ref: string, spec: Spec): Document {
  return resource("AccessPolicy", ref, spec);
}

/** A gateway of xDS-enabled gRPC servers, one listener per listening port and the Destination it serves. */
export function serverGateway(ref: string, labels: Record<string, string>, listeners: Spec[]): Document {
  return resource("Gateway", ref, { kind: "GRPC_SERVER", proxies: { labels }, listeners });
}

export function usagePlan(ref: string, limits: Spec, extra: Spec = {}): Document {
  return resource("UsagePlan", ref, { limits, ...extra });
}

export function apiProduct(ref: string, spec: Spec): Document {
  return resource("ApiProduct", ref, spec);
}

export function portal(ref: string, spec: Spec): Document {
  return resource("Portal", ref, spec);
}
