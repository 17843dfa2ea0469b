// `describe`: one resource's place in the last published translation, and the proxies it reaches.
// Pure: the server gathers the inputs (publication, connected clients, the ACK ledger's rows).
import { TypeUrl, type XdsResource } from "../envoy/index.js";
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
  routeConfigurationsOf,
  routeDestinations,
  routeTablesOf,
} from "../translate/index.js";
import type { ClientResourceStatus } from "../xds/index.js";
import {
  type ConnectedClient,
  type EnvoyResourceStatus,
  envoyResourceStatuses,
  producedResources,
  type ServingProxy,
  servingClients,
} from "./client-status.js";

export type { ConnectedClient, EnvoyResourceStatus, ServingProxy };

/** What `describe` is computed from. */
export interface DescribeInput {
  /** The proxy groups last published. */
  groups: readonly ProxyGroup[];
  /** Each translated RateLimitPolicy's domain. */
  rateLimits: readonly ModelRateLimitDomain[];
  /** The AuthConfigs published to ext-auth servers (named by config id). */
  authConfigs: readonly XdsResource[];
  /** The RateLimitConfigs published to rate-limit servers (named by domain). */
  rateLimitConfigs: readonly XdsResource[];
  /** The clients connected to this replica, one per node id. */
  clients: readonly ConnectedClient[];
  /** The ACK ledger's rows: per client and resource it subscribed to. */
  acks: readonly ClientResourceStatus[];
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
  /** The xDS resources made from it, with the clients subscribing to each. */
  envoyResources: EnvoyResourceStatus[];
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRefs(keys: Iterable<string>): ResourceRef[] {
  return [...new Set(keys)].sort(byText).map(parseRefKey);
}

/** A route as a proxy serves it, in the terms of one listener and virtual host. */
export interface RouteSite {
  group: ProxyGroup;
  listener: ModelListener;
  vhost: ModelVirtualHost;
  route: ModelRoute;
}

export function* sites(groups: readonly ProxyGroup[]): Generator<RouteSite> {
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
    case "AccessPolicy": {
      const access = p.access;
      if (!access) return "access";
      const allow = access.allow === undefined ? "" : `, allow ${access.allow.length} rule(s) (others refused)`;
      return `access: deny ${access.deny.length} rule(s)${allow}`;
    }
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

export function servedRoute(site: RouteSite): ServedRoute {
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

/** Describes the resource `kind` `namespace/name` as the last publication and this replica's proxies have it. */
export function describeResource(kind: Kind, namespace: string, name: string, input: DescribeInput): Description {
  const nsName = namespacedName({ namespace, name });
  const key = refKey({ kind, namespace, name });
  const routes: ServedRoute[] = [];
  const gateways = new Set<string>();
  const routeTables = new Set<string>();
  const policies = new Set<string>();
  const clusters = new Set<string>();
  const routeConfigurations = new Set<string>();
  const isPolicy = policyKinds.includes(kind);
  for (const group of input.groups) if (groupHolds(kind, key, nsName, group)) gateways.add(group.name);
  for (const site of sites(input.groups)) {
    if (!concerns(kind, key, nsName, site)) continue;
    gateways.add(site.group.name);
    const served = servedRoute(site);
    routes.push(served);
    for (const name of routeConfigurationsOf(site.group, site.listener, site.vhost)) routeConfigurations.add(name);
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
    kind === "RateLimitPolicy"
      ? (input.rateLimits.find((r) => r.kind === undefined && r.policy === nsName)?.domain ?? "")
      : "";
  const authConfigId = kind === "AuthConfig" ? nsName : "";
  const serviceConfigs = [
    ...input.authConfigs.filter((c) => c.name === authConfigId),
    ...input.rateLimitConfigs.filter((c) => rateLimitDomain !== "" && c.name === rateLimitDomain),
  ];
  const envoyResources = envoyResourceStatuses(
    producedResources({ kind, nsName, routeConfigurations, serviceConfigs }, input.groups),
    input.acks,
  );
  const servedBy = servingClients(
    envoyResources,
    input.clients,
    input.groups.filter((g) => gateways.has(g.name)),
  );

  return {
    servedBy,
    gateways: sortedRefs([...gateways].map((g) => kindKey("Gateway", g))),
    routeTables: sortedRefs(routeTables),
    policies: sortedRefs(policies),
    routes,
    clusters: [...clusters].sort(byText),
    rateLimitDomain,
    authConfigId,
    envoyResources,
  };
}
