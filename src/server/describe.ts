// `describe`: one resource's place in the last published translation, and the proxies it reaches.
// Pure: the server gathers the inputs (publication, proxy status, snapshot change times).
import type { JsonObject } from "@bufbuild/protobuf";
import { TypeUrl } from "../envoy/index.js";
import { type Kind, kindKey, namespacedName, parseRefKey, type ResourceRef, refKey } from "../resources/index.js";
import {
  appliedPolicies,
  type ModelListener,
  type ModelMatch,
  type ModelRateLimitDomain,
  type ModelRoute,
  type ModelVirtualHost,
  type ProxyGroup,
  policyKinds,
  routeDestinations,
  routeTablesOf,
} from "../translate/index.js";
import { type NodeRole, roleOf, selects } from "./publish.js";

/** Where one connected proxy stands on one type URL. */
export interface ProxyTypeState {
  typeUrl: string;
  /** The last response written to it. */
  sent?: { nonce: string; at: number };
  /** The last response it ACKed. */
  acked?: { nonce: string; at: number };
  /** The last NACK, kept after later ACKs. */
  lastNack?: { error: string; nonce: string; at: number };
  /** When this type's contents last changed in the proxy's published snapshot (clock ms). */
  changedAt?: number;
  /** How many resources of this type its published snapshot holds. */
  held: number;
}

/** A proxy connected to this replica, as `describe` reads it. */
export interface ConnectedProxy {
  nodeId: string;
  metadata: JsonObject;
  stream: string;
  types: readonly ProxyTypeState[];
}

/** What `describe` is computed from. */
export interface DescribeInput {
  /** The proxy groups last published. */
  groups: readonly ProxyGroup[];
  /** Each translated RateLimitPolicy's domain. */
  rateLimits: readonly ModelRateLimitDomain[];
  /** The AuthConfig ids published to ext-auth servers. */
  publishedAuthConfigs: ReadonlySet<string>;
  /** The rate-limit domains published to rate-limit servers. */
  publishedDomains: ReadonlySet<string>;
  proxies: readonly ConnectedProxy[];
}

export interface ServingProxy {
  nodeId: string;
  role: NodeRole;
  stream: string;
  /** Proxies: the gateways (`namespace/name`) that bring them the resource. */
  gateways: string[];
  acked: boolean;
  pendingTypes: string[];
  lastNackError: string;
}

export interface ServedRoute {
  name: string;
  gateway: ResourceRef;
  listener: string;
  routeTable: ResourceRef;
  hosts: string[];
  match: string;
  action: string;
  destinations: ResourceRef[];
  policies: { policy: ResourceRef; effect: string }[];
}

export interface Description {
  servedBy: ServingProxy[];
  gateways: ResourceRef[];
  routeTables: ResourceRef[];
  policies: ResourceRef[];
  routes: ServedRoute[];
  clusters: string[];
  rateLimitDomain: string;
  authConfigId: string;
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRefs(keys: Iterable<string>): ResourceRef[] {
  return [...new Set(keys)].sort(byText).map(parseRefKey);
}

/**
 * Whether a proxy runs the current contents of one type: it ACKed the last response sent, and that
 * response went out after the type last changed in its snapshot. A type never sent is current
 * only while the snapshot holds nothing of it.
 */
export function typeIsCurrent(state: ProxyTypeState): boolean {
  if (!state.sent) return state.held === 0;
  return state.acked?.nonce === state.sent.nonce && state.sent.at >= (state.changedAt ?? 0);
}

/** A route as a proxy serves it, in the terms of one listener and virtual host. */
interface RouteSite {
  group: ProxyGroup;
  listener: ModelListener;
  vhost: ModelVirtualHost;
  route: ModelRoute;
}

function* sites(groups: readonly ProxyGroup[]): Generator<RouteSite> {
  for (const group of groups)
    for (const listener of group.listeners)
      for (const vhost of listener.virtualHosts)
        for (const route of vhost.routes) yield { group, listener, vhost, route };
}

/** Which routes a resource concerns, by kind. */
function concerns(kind: Kind, key: string, nsName: string, site: RouteSite): boolean {
  switch (kind) {
    case "Gateway":
      return site.group.name === nsName;
    case "RouteTable":
      return routeTablesOf(site.route).includes(key);
    case "Destination":
      return routeDestinations(site.route).includes(key);
    case "AuthConfig": {
      const extAuth = site.route.policies.extAuth;
      return extAuth !== undefined && "configId" in extAuth && extAuth.configId === nsName;
    }
    case "Secret":
      return false;
    default:
      return appliedPolicies(site.route).includes(key);
  }
}

/** Whether a group's configuration holds the resource, whether or not a route shows it. */
function groupHolds(kind: Kind, key: string, nsName: string, group: ProxyGroup): boolean {
  if (kind === "Gateway") return group.name === nsName;
  if (kind === "Secret") return group.resources.some((r) => r.typeUrl === TypeUrl.secret && r.name === nsName);
  return group.origins.has(key);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** What a policy of a kind sets on a route, readably. */
function effectOf(kind: string, route: ModelRoute): string {
  const p = route.policies;
  switch (kind) {
    case "ExtAuthPolicy":
      if (!p.extAuth) return "ext-auth";
      return "configId" in p.extAuth ? `auth config ${p.extAuth.configId}` : "ext-auth disabled";
    case "RateLimitPolicy":
      return p.rateLimit
        ? `rate limit domain ${p.rateLimit.domain}, ${p.rateLimit.rateLimits.length} descriptor(s)`
        : "rate limit";
    case "RetryTimeoutPolicy": {
      const parts: string[] = [];
      if (p.retry) parts.push(`retry ${p.retry.attempts}× on ${p.retry.retryOn.join(",")}`);
      if (p.timeoutMs !== undefined) parts.push(`timeout ${formatMs(p.timeoutMs)}`);
      return parts.join("; ") || "retry and timeout";
    }
    case "FaultInjectionPolicy": {
      const parts: string[] = [];
      const abort = p.fault?.abort;
      const delay = p.fault?.delay;
      if (abort) {
        const status = abort.httpStatus !== undefined ? `${abort.httpStatus}` : `grpc ${abort.grpcStatus ?? 0}`;
        parts.push(`abort ${status} at ${abort.percentage}%`);
      }
      if (delay) parts.push(`delay ${formatMs(delay.fixedDelayMs)} at ${delay.percentage}%`);
      return parts.join("; ") || "fault injection";
    }
    case "CORSPolicy":
      return p.cors
        ? `CORS for ${[...p.cors.allowOrigins, ...p.cors.allowOriginRegexes].join(", ") || "no origin"}`
        : "CORS";
    default:
      return "headers";
  }
}

/** A route's match, readably: `prefix /api header x-env=beta method GET`. */
export function formatMatch(match: ModelMatch): string {
  const parts = [`${match.path.kind} ${match.path.value}`];
  for (const h of match.headers) parts.push(`header ${h.name}${h.invert ? "!" : ""}${h.regex ? "~" : "="}${h.value}`);
  for (const q of match.queryParams) parts.push(`query ${q.name}${q.regex ? "~" : "="}${q.value}`);
  if (match.methods.length > 0) parts.push(`method ${match.methods.join(",")}`);
  if (match.ignoreCase) parts.push("(ignoring case)");
  return parts.join(" ");
}

/** A route's action, readably: `forward basic/web:80`, `redirect 301 https://…`, `direct 200`. */
export function formatAction(route: ModelRoute): string {
  const action = route.action;
  switch (action.type) {
    case "forward": {
      const weighted = action.destinations.length > 1;
      const targets = action.destinations.map((d) => (weighted ? `${d.cluster} (${d.weight})` : d.cluster));
      return `forward ${targets.join(", ")}`;
    }
    case "redirect": {
      const scheme = action.https ? "https://" : "";
      return `redirect ${action.responseCode} ${scheme}${action.host || "(same host)"}${action.path}`;
    }
    case "direct":
      return `direct ${action.status}`;
  }
}

function servedRoute(site: RouteSite): ServedRoute {
  const { group, listener, vhost, route } = site;
  return {
    name: route.name,
    gateway: parseRefKey(kindKey("Gateway", group.name)),
    listener: listener.name,
    routeTable: parseRefKey(kindKey("RouteTable", vhost.name)),
    hosts: [...vhost.domains],
    match: formatMatch(route.match),
    action: formatAction(route),
    destinations: routeDestinations(route).map(parseRefKey),
    policies: appliedPolicies(route).map((key) => {
      const policy = parseRefKey(key);
      return { policy, effect: effectOf(policy.kind, route) };
    }),
  };
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`. */
function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}

function servingProxy(proxy: ConnectedProxy, role: NodeRole, gateways: string[]): ServingProxy {
  const pending = proxy.types.filter((t) => !typeIsCurrent(t)).map((t) => t.typeUrl);
  const nack = proxy.types
    .filter((t) => t.lastNack)
    .sort((a, b) => (a.lastNack?.at ?? 0) - (b.lastNack?.at ?? 0))
    .at(-1);
  return {
    nodeId: proxy.nodeId,
    role,
    stream: proxy.stream,
    gateways,
    acked: pending.length === 0,
    pendingTypes: pending.sort(byText),
    lastNackError: nack?.lastNack ? `${shortType(nack.typeUrl)}: ${nack.lastNack.error}` : "",
  };
}

/** Describes the resource `kind` `namespace/name` as the last publication and this replica's proxies have it. */
export function describeResource(kind: Kind, namespace: string, name: string, input: DescribeInput): Description {
  const nsName = namespacedName({ namespace, name });
  const key = refKey({ kind, namespace, name });
  const routes: ServedRoute[] = [];
  const gateways = new Set<string>();
  const routeTables = new Set<string>();
  const policies = new Set<string>();
  const clusters = new Set<string>();
  const isPolicy = policyKinds.includes(kind);
  for (const group of input.groups) if (groupHolds(kind, key, nsName, group)) gateways.add(group.name);
  for (const site of sites(input.groups)) {
    if (!concerns(kind, key, nsName, site)) continue;
    gateways.add(site.group.name);
    const served = servedRoute(site);
    routes.push(served);
    for (const rt of routeTablesOf(site.route)) routeTables.add(rt);
    for (const policy of appliedPolicies(site.route)) {
      if (isPolicy) continue;
      if (kind === "AuthConfig" && parseRefKey(policy).kind !== "ExtAuthPolicy") continue;
      policies.add(policy);
    }
    if (kind === "Destination" && site.route.action.type === "forward") {
      for (const { cluster } of site.route.action.destinations)
        if (cluster.startsWith(`${nsName}:`)) clusters.add(cluster);
    }
  }
  routes.sort(
    (a, b) =>
      byText(namespacedName(a.gateway), namespacedName(b.gateway)) ||
      byText(a.listener, b.listener) ||
      byText(a.name, b.name),
  );

  const rateLimitDomain =
    kind === "RateLimitPolicy" ? (input.rateLimits.find((r) => r.policy === nsName)?.domain ?? "") : "";
  const authConfigId = kind === "AuthConfig" ? nsName : "";
  const byGateway = new Map(input.groups.map((g) => [g.name, g]));
  const servedBy: ServingProxy[] = [];
  for (const proxy of input.proxies) {
    const node = { id: proxy.nodeId, metadata: proxy.metadata };
    const role = roleOf(node);
    if (role === "proxy") {
      const through = [...gateways].filter((g) => {
        const group = byGateway.get(g);
        return group !== undefined && selects(group.proxies, node);
      });
      if (through.length > 0) servedBy.push(servingProxy(proxy, role, through.sort(byText)));
    } else if (
      (role === "extauth" && authConfigId !== "" && input.publishedAuthConfigs.has(authConfigId)) ||
      (role === "ratelimit" && rateLimitDomain !== "" && input.publishedDomains.has(rateLimitDomain))
    ) {
      servedBy.push(servingProxy(proxy, role, []));
    }
  }
  servedBy.sort((a, b) => byText(a.nodeId, b.nodeId) || byText(a.stream, b.stream));

  return {
    servedBy,
    gateways: sortedRefs([...gateways].map((g) => kindKey("Gateway", g))),
    routeTables: sortedRefs(routeTables),
    policies: sortedRefs(policies),
    routes,
    clusters: [...clusters].sort(byText),
    rateLimitDomain,
    authConfigId,
  };
}
