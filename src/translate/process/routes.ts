import { duplicateDomains } from "../../envoy/index.js";
import { kindKey } from "../../resources/index.js";
// Route configurations: one per listener, a virtual host per route table.
import type { GatewayKind, ModelListener, ModelVirtualHost } from "../model.js";
import { clientOf, type GroupContext } from "./group.js";

/**
 * A listener's route configuration. Routes are checked one by one, each blamed on the resources
 * it came from; each virtual host without its routes, and the domains across virtual hosts, are
 * blamed on the route table.
 */
export function processRouteConfiguration(group: GroupContext, listener: ModelListener): void {
  const { gateway } = group;
  const name = `${gateway.name}/${listener.name}`;
  if (gateway.kind === "grpc") {
    // One route configuration per host a gRPC client can dial, each with only the virtual hosts
    // that can answer for it: a NACK of one target's routes then affects that target alone.
    for (const host of grpcHosts(listener)) {
      const serving = listener.virtualHosts.filter((vhost) => vhost.domains.some((d) => domainMatches(d, host)));
      routeConfiguration(group, { ...listener, virtualHosts: serving }, grpcRouteConfigName(name, host));
    }
    return;
  }
  // An east-west listener forwards by SNI: it has no routes.
  if (listener.eastWest) return;
  routeConfiguration(group, listener, name);
}

/** The hosts of a proxyless gRPC listener: its exact domains (a client cannot dial a wildcard). */
export function grpcHosts(listener: ModelListener): string[] {
  return [...new Set(listener.virtualHosts.flatMap((v) => v.domains))].filter((h) => !h.includes("*")).sort();
}

/** The route configuration a proxyless gRPC client gets for one host. */
export function grpcRouteConfigName(listenerRouteConfig: string, host: string): string {
  return `${listenerRouteConfig}/${host}`;
}

/**
 * The route configurations a listener's virtual host goes into: the listener's one, or for a
 * proxyless gRPC gateway, one per host the virtual host can answer for.
 */
export function routeConfigurationsOf(
  gateway: { readonly name: string; readonly kind: GatewayKind },
  listener: ModelListener,
  vhost: ModelVirtualHost,
): string[] {
  const name = `${gateway.name}/${listener.name}`;
  if (gateway.kind !== "grpc") return [name];
  return grpcHosts(listener)
    .filter((host) => vhost.domains.some((d) => domainMatches(d, host)))
    .map((host) => grpcRouteConfigName(name, host));
}

/** Envoy's domain match: exact, `*`, a `*` prefix (suffix match) or a `*` suffix (prefix match), without case. */
function domainMatches(domain: string, host: string): boolean {
  const d = domain.toLowerCase();
  const h = host.toLowerCase();
  if (d === h || d === "*") return true;
  if (d.startsWith("*")) return h.endsWith(d.slice(1)) && h.length > d.length - 1;
  if (d.endsWith("*")) return h.startsWith(d.slice(0, -1)) && h.length > d.length - 1;
  return false;
}

function routeConfiguration(group: GroupContext, listener: ModelListener, name: string): void {
  const { gateway, compute } = group;
  const client = clientOf(gateway);
  const { extAuth } = compute.needs(listener, client);
  const hosts = listener.virtualHosts.map((vhost) => {
    const built = compute.host(vhost.routes, client, extAuth);
    for (const problem of built.problems) group.blame(problem.origins, problem.violations, problem.what);
    for (const cluster of built.clusters) group.clusters.add(cluster);
    const shell = compute.virtualHostProblems(vhost, listener.httpsRedirect);
    if (shell.length > 0) group.blame([kindKey("RouteTable", vhost.name)], shell, `virtual host ${vhost.name}`);
    return { vhost, built };
  });
  for (const d of duplicateDomains(listener.virtualHosts)) {
    group.blame([kindKey("RouteTable", d.vhost)], [{ path: "domains", message: d.message }], name);
  }
  group.add(
    compute.routeConfiguration(name, hosts, listener.httpsRedirect),
    kindKey("Gateway", gateway.name),
    "RouteConfiguration",
    name,
  );
}
