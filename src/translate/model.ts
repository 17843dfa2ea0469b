import type { RateLimit } from "../gen/envoy/config/route/v3/route_components_pb.js";
import type { RateLimitDescriptor } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";

/**
 * The neutral model between Gantry resources and Envoy configuration: references resolved,
 * delegation flattened, policies attached. Builders read only this.
 */
export interface Model {
  gateways: ModelGateway[];
  /** By cluster name. */
  clusters: Map<string, ModelCluster>;
  /** By secret name. */
  secrets: Map<string, ModelSecret>;
  /** Server-side rate limits, for the rate-limit servers (one entry per RateLimitPolicy). */
  rateLimits: ModelRateLimitDomain[];
  /** AuthConfigs named by ExtAuthPolicies, by config id. */
  authConfigIds: string[];
  /** What AccessPolicies allow and deny, by destination `namespace/name` (only destinations some policy restricts). */
  access: Map<string, ModelAccess>;
}

export interface ProxySelection {
  labels: Readonly<Record<string, string>>;
  nodeIds: readonly string[];
  /** The gateway's placement: only nodes of these workload clusters. Absent or empty: any. */
  clusters?: readonly string[];
}

export interface ModelGateway {
  /** `namespace/name`; also the proxy group's name. */
  name: string;
  proxies: ProxySelection;
  kind: GatewayKind;
  /**
   * Envoy: one per port. Proxyless gRPC: one, holding every host (its port is unused). gRPC servers:
   * one per listening address, with no virtual hosts (the server answers calls itself).
   */
  listeners: ModelListener[];
  /** The resources whose change alters this gateway's output. */
  origins: Set<string>;
}

/** Envoy proxies, proxyless gRPC clients, or xDS-enabled gRPC servers. */
export type GatewayKind = "envoy" | "grpc" | "grpc-server";

export interface ModelListener {
  name: string;
  port: number;
  bindAddress: string;
  tls?: ModelListenerTls;
  /** A gRPC server's listener: the destination it serves, its workload TLS and access rules. */
  server?: ModelServer;
  httpsRedirect: boolean;
  virtualHosts: ModelVirtualHost[];
  /** An east-west listener (it has no virtual hosts): TLS passed through by SNI to local clusters. */
  eastWest?: ModelEastWestListener;
}

/**
 * An EAST_WEST listener of a gateway placed in `cluster`: one route per VirtualDestination port with
 * endpoints in that cluster, from the SNI callers of other clusters send to the local-only cluster.
 */
export interface ModelEastWestListener {
  cluster: string;
  /** Where other clusters reach it. */
  addresses: ModelAddress[];
  /** In SNI order. */
  passthrough: { sni: string; cluster: string }[];
}

export interface ModelAddress {
  address: string;
  port: number;
}

export interface ModelListenerTls {
  secret: string;
  mode: "SIMPLE" | "MUTUAL";
  clientCa?: string;
}

export interface ModelServer {
  /** The destination's `namespace/name`. */
  destination: string;
  /** What the server requires of callers; DISABLE: plaintext. */
  tls: "DISABLE" | "SIMPLE" | "MUTUAL";
  access?: ModelAccess;
}

/**
 * What AccessPolicies say of one destination. A request is refused when a `deny` rule matches it,
 * or, when `allow` is present, unless one of its rules matches it (present and empty: nothing is allowed).
 */
export interface ModelAccess {
  deny: ModelAccessRule[];
  allow?: ModelAccessRule[];
  /** The AccessPolicies these came from (`AccessPolicy/namespace/name`). */
  policies: string[];
}

export type StringPattern = { exact: string } | { prefix: string };

/** One rule of an AccessPolicy: it matches when every part given matches. */
export interface ModelAccessRule {
  /** `namespace/policy/rules[i]`, unique: the RBAC policy's name. */
  name: string;
  /** Each set must match the caller's SPIFFE ID with one of its patterns. */
  principals: StringPattern[][];
  paths: StringPattern[];
  methods: string[];
  /** Each must match: the header has one of `values` (exact), or, with none, is present. */
  headers: { name: string; values: string[] }[];
}

export interface ModelVirtualHost {
  /** The route table's `namespace/name`. */
  name: string;
  domains: string[];
  routes: readonly ModelRoute[];
}

export interface ModelRoute {
  /** `namespace/routeTable/route`, with the delegation path for delegated routes. */
  name: string;
  match: ModelMatch;
  action: ModelAction;
  policies: ModelRoutePolicies;
  /** The resources this route was built from (route tables, destinations, policies). */
  origins: string[];
  /**
   * Set when the route cannot forward as written (a missing destination, a bad subset): its action is
   * then a direct 500 for Envoy, and gRPC clients are not given it (they only forward).
   */
  unservable?: true;
}

export type PathMatch = { kind: "exact" | "prefix" | "regex"; value: string };

export interface ModelMatch {
  path: PathMatch;
  headers: ModelHeaderMatch[];
  queryParams: { name: string; value: string; regex: boolean }[];
  methods: string[];
  ignoreCase: boolean;
}

export interface ModelHeaderMatch {
  name: string;
  value: string;
  regex: boolean;
  invert: boolean;
}

export type ModelAction =
  | {
      type: "forward";
      destinations: { cluster: string; weight: number }[];
      /** Replaces the matched prefix (prefix paths) or the whole path. */
      pathRewrite?: string;
      hostRewrite?: string;
      timeoutMs?: number;
    }
  | { type: "redirect"; host: string; path: string; https: boolean; responseCode: number }
  | { type: "direct"; status: number; body: string };

export interface ModelRoutePolicies {
  extAuth?: { configId: string } | { disabled: true };
  rateLimit?: { domain: string; rateLimits: RateLimit[] };
  retry?: { retryOn: string[]; attempts: number; perTryTimeoutMs?: number; retriableStatusCodes: number[] };
  timeoutMs?: number;
  fault?: ModelFault;
  cors?: ModelCors;
  headers?: ModelHeaders;
  /** The AccessPolicies of the route's destinations (Envoy's RBAC filter, per route). */
  access?: ModelAccess;
}

export interface ModelFault {
  abort?: { httpStatus?: number; grpcStatus?: number; percentage: number };
  delay?: { fixedDelayMs: number; percentage: number };
}

export interface ModelCors {
  allowOrigins: string[];
  allowOriginRegexes: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
  allowCredentials: boolean;
}

export interface ModelHeaders {
  requestAdd: { name: string; value: string; append: boolean }[];
  requestRemove: string[];
  responseAdd: { name: string; value: string; append: boolean }[];
  responseRemove: string[];
}

export interface ModelCluster {
  name: string;
  /** The destination's `namespace/name`. */
  destination: string;
  protocol: "HTTP1" | "HTTP2" | "GRPC";
  connectTimeoutMs: number;
  tls?: { caSecret?: string; sni: string; clientSecret?: string };
  /** TLS with Gantry's workload certificates (SDS `default`/`ROOTCA`, or gRPC's provider `gantry`). */
  workloadTls?: ModelWorkloadTls;
  discovery:
    | { type: "static"; endpoints: ModelEndpoint[] }
    | { type: "dns"; host: string; port: number }
    | ModelFailover;
  /** Set on a VirtualDestination's clusters. */
  outlierDetection?: ModelOutlierDetection;
  /** What `destination` names when it is not a Destination (a VirtualDestination's local endpoints). */
  owner?: "VirtualDestination";
}

export interface ModelWorkloadTls {
  mode: "SIMPLE" | "MUTUAL";
  /** The SPIFFE IDs the server may present (URI SANs), sorted. */
  serverIdentities: string[];
  sni: string;
}

export interface ModelEndpoint {
  address: string;
  port: number;
  weight: number;
  locality: { region: string; zone: string; subZone: string };
  /** Absent: unknown, which is served. */
  health?: "HEALTHY" | "UNHEALTHY" | "DRAINING";
}

/**
 * A VirtualDestination port: endpoints by workload cluster, served by EDS with priorities that
 * depend on the caller's cluster (its own first, then `order`).
 */
export interface ModelFailover {
  type: "failover";
  /** Member clusters in the order callers outside them try them (FailoverPolicy order, then name order). */
  order: string[];
  /** Endpoints of each member cluster, by cluster name, in name order. */
  endpoints: Record<string, ModelEndpoint[]>;
  /** Percent; absent: Envoy's default (140). */
  overprovisioningFactor?: number;
  /** How Envoy callers reach the member clusters other than their own. */
  eastWest: ModelFailoverEastWest;
}

/**
 * Envoy callers reach another cluster's endpoints through that cluster's east-west gateway, with TLS
 * carrying `sni` (which the gateway routes by) end to end to the workload.
 */
export interface ModelFailoverEastWest {
  sni: string;
  /** The VirtualDestination's port (with `localClusterName`, what an east-west gateway forwards `sni` to). */
  port: number;
  /** The east-west gateways' addresses of each member cluster that has one, by cluster name. */
  gateways: Record<string, ModelAddress[]>;
  /** How the caller's TLS to the remote workload is made (envoy/east-west.ts). */
  tls: ModelUpstreamTls;
}

/**
 * The TLS a caller originates to a workload of a VirtualDestination. MUTUAL: Gantry workload
 * identities (SDS `default` and `ROOTCA`), with the peer's SPIFFE IDs checked when listed.
 */
export type ModelUpstreamTls = { mode: "MUTUAL"; subjectAltNames: string[] };

export interface ModelOutlierDetection {
  consecutiveErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  failurePercentage?: { threshold: number; minimumHosts: number; requestVolume: number };
}

export type ModelSecret =
  | { name: string; type: "tls"; certificateChain: DataSource; privateKey: DataSource }
  | { name: string; type: "ca"; certificates: DataSource };

export type DataSource = { inline: string } | { file: string };

export interface ModelRateLimitDomain {
  /** The `namespace/name` of the resource the descriptors come from. */
  policy: string;
  /** That resource's kind; absent: RateLimitPolicy. */
  kind?: "ApiProduct";
  domain: string;
  descriptors: RateLimitDescriptor[];
}
