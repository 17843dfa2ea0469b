// Route analyzers over the served model: shadowed routes (GTY0103), timeouts (GTY0106, GTY0107),
// destinations no route uses (GTY0108), policies a proxyless gateway's clients ignore (GTY0110). A route served by several gateways or listeners is
// reported once.
import { parseRefKey, resourceKey } from "../../resources/index.js";
import { type ModelRoute, routeDestinations, routeTablesOf, shadowedRoutes } from "../../translate/index.js";
import type { Finding, Target } from "../types.js";
import type { ConfigInput } from "./config-input.js";

/** Every served route with the gateway and listener serving it (a route may appear more than once). */
function* servedRoutes(input: ConfigInput): Generator<{ gateway: string; routes: readonly ModelRoute[] }> {
  for (const gateway of input.gateways) {
    for (const listener of gateway.listeners) {
      for (const vhost of listener.virtualHosts) yield { gateway: gateway.name, routes: vhost.routes };
    }
  }
}

/** The route table that defines a route (the last of its delegation path). */
function definedIn(route: ModelRoute): Target {
  const tables = routeTablesOf(route);
  return parseRefKey(tables[tables.length - 1] ?? "RouteTable/unknown/unknown");
}

/** A route's name without the `#n` that numbers its matchers: findings are per route, not per matcher. */
function routeName(route: ModelRoute): string {
  return route.name.replace(/#\d+$/, "");
}

export function shadowedRouteFindings(input: ConfigInput): Finding[] {
  const out = new Map<string, Finding>();
  for (const { gateway, routes } of servedRoutes(input)) {
    for (const { route, by } of shadowedRoutes(routes)) {
      const name = routeName(route);
      if (out.has(name)) continue;
      out.set(name, {
        code: "GTY0103",
        targets: [definedIn(route), definedIn(by)],
        subject: name,
        args: { route: name, by: routeName(by) },
        evidence: { gateway, route: route.name, shadowedBy: by.name },
      });
    }
  }
  return [...out.values()];
}

export function routeTimeoutFindings(input: ConfigInput): Finding[] {
  const out = new Map<string, Finding>();
  for (const { gateway, routes } of servedRoutes(input)) {
    for (const route of routes) {
      if (route.action.type !== "forward") continue;
      const name = routeName(route);
      if (out.has(name)) continue;
      const timeoutMs = route.action.timeoutMs ?? route.policies.timeoutMs;
      if (timeoutMs !== undefined && timeoutMs > 0) continue;
      out.set(name, {
        code: timeoutMs === 0 ? "GTY0106" : "GTY0107",
        targets: [definedIn(route)],
        subject: name,
        args: { route: name },
        evidence: { gateway, timeout: timeoutMs === 0 ? "0s" : "unset" },
      });
    }
  }
  return [...out.values()];
}

export function unusedDestinations(input: ConfigInput): Finding[] {
  const used = new Set<string>();
  for (const { routes } of servedRoutes(input)) {
    for (const route of routes) for (const key of routeDestinations(route)) used.add(key);
  }
  // A destination whose xDS-enabled gRPC servers a GRPC_SERVER gateway serves is in use, routed to or not.
  for (const gateway of input.gateways) {
    for (const { server } of gateway.listeners) if (server) used.add(`Destination/${server.destination}`);
  }
  return input.resources
    .filter((r) => r.kind === "Destination" && !used.has(resourceKey(r)))
    .map((r) => ({
      code: "GTY0108",
      targets: [{ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name }],
      args: { name: `${r.metadata.namespace}/${r.metadata.name}` },
      evidence: {},
    }));
}

/** The policies of a route that proxyless gRPC clients do not apply, by the kind of resource that sets them. */
const ignoredByGrpc: readonly { kind: string; present: (route: ModelRoute) => boolean }[] = [
  { kind: "CORSPolicy", present: (r) => r.policies.cors !== undefined },
  { kind: "HeaderPolicy", present: (r) => r.policies.headers !== undefined },
  { kind: "ExtAuthPolicy", present: (r) => r.policies.extAuth !== undefined && "configId" in r.policies.extAuth },
  { kind: "RateLimitPolicy", present: (r) => r.policies.rateLimit !== undefined },
];

export function proxylessIgnoredPolicies(input: ConfigInput): Finding[] {
  const out = new Map<string, Finding>();
  for (const gateway of input.gateways) {
    if (gateway.kind !== "grpc") continue;
    for (const listener of gateway.listeners) {
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) {
          for (const { kind, present } of ignoredByGrpc) {
            if (!present(route)) continue;
            const name = routeName(route);
            // The policy resources of that kind the route came from (a route table's own settings name the table).
            const policies = route.origins.filter((o) => o.startsWith(`${kind}/`)).map(parseRefKey);
            for (const policy of policies.length > 0 ? policies : [definedIn(route)]) {
              const id = `${gateway.name}|${name}|${kind}|${policy.namespace}/${policy.name}`;
              if (out.has(id)) continue;
              out.set(id, {
                code: "GTY0110",
                targets: [policy],
                subject: `${gateway.name} ${name}`,
                args: { kind, name: `${policy.namespace}/${policy.name}`, route: name, gateway: gateway.name },
                evidence: { gateway: gateway.name, route: route.name, policy: kind },
              });
            }
          }
        }
      }
    }
  }
  return [...out.values()];
}
