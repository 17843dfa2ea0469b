// Gateways: listeners, the route tables each admits, and their virtual hosts.
import { isIP } from "node:net";
import { type GatewayListener, Protocol, ProxyKind, TlsMode } from "../../gen/gantry/v1/gateway_pb.js";
import {
  clusterLabel,
  clustersOf,
  kindKey,
  placementOf,
  type ResourceOf,
  refName,
  resourceKey,
} from "../../resources/index.js";
import type { ModelGateway, ModelListener, ModelSecret, ModelVirtualHost } from "../model.js";
import type { StatusCollector } from "../status.js";
import type { AccessByDestination } from "./access.js";
import { admits, type ListenerAdmission, notServedMessage } from "./admission.js";
import { type Index, nsName } from "./common.js";
import type { ResolvedDestinations } from "./destinations.js";
import { eastWestListenerProblems, externalAddresses } from "./east-west.js";
import type { RouteFlattener } from "./routes.js";
import { serverListeners } from "./servers.js";

export function normalizeGateways(
  index: Index,
  secrets: Map<string, ModelSecret>,
  routes: RouteFlattener,
  statuses: StatusCollector,
  served: { destinations: ResolvedDestinations; access: AccessByDestination },
): ModelGateway[] {
  const gateways: ModelGateway[] = [];
  const routeTables = [...index.of("RouteTable").values()];
  const byGateway = new Map<string, ResourceOf<"RouteTable">[]>();
  for (const rt of routeTables) {
    for (const name of new Set(rt.spec.gateways.map((g) => refName(g, rt.metadata.namespace)))) {
      byGateway.set(name, [...(byGateway.get(name) ?? []), rt]);
    }
  }
  for (const [name, gateway] of index.of("Gateway")) {
    const key = resourceKey(gateway);
    const spec = gateway.spec;
    const placement = placementOf(gateway);
    // The `gantry.io/cluster` selector label is placement (placementOf), not a label proxies carry.
    const labels = Object.entries(spec.proxies?.labels ?? {}).filter(([k]) => k !== clusterLabel);
    const proxies = {
      labels: Object.fromEntries(labels),
      nodeIds: [...(spec.proxies?.nodeIds ?? [])].sort(),
      ...(placement.length > 0 ? { clusters: [...placement] } : {}),
    };
    if (Object.keys(proxies.labels).length === 0 && proxies.nodeIds.length === 0) {
      statuses.invalid(key, "spec.proxies: labels or nodeIds are required");
      continue;
    }
    const namingThis = (byGateway.get(name) ?? []).filter((rt) => {
      const problem = placementProblem(rt, placement);
      if (problem) statuses.warn(resourceKey(rt), `not attached to Gateway ${name}: ${problem}`);
      return problem === undefined;
    });
    const origins = new Set<string>([key]);
    const listeners: ModelListener[] = [];
    const admissions: ListenerAdmission[] = [];
    if (spec.kind === ProxyKind.GRPC_SERVER) {
      for (const rt of namingThis) {
        statuses.warn(resourceKey(rt), `not attached to Gateway ${name}: a GRPC_SERVER gateway serves no route tables`);
      }
      const built = serverListeners(gateway, served, statuses, origins);
      if (built === undefined) continue;
      gateways.push({ name, proxies, kind: "grpc-server", listeners: built, origins });
      continue;
    }
    if (spec.kind === ProxyKind.GRPC_PROXYLESS) {
      if (spec.listeners.length > 0) statuses.warn(key, "spec.listeners: ignored for GRPC_PROXYLESS gateways");
      admissions.push({
        label: "its gRPC clients",
        field: "spec.allowedRouteTables",
        selectors: spec.allowedRouteTables,
        eastWest: false,
      });
      const admitted = namingThis.filter((rt) => admits(spec.allowedRouteTables, rt));
      const where = { name: `${key} (grpc)`, unservable: `left out for Gateway ${name}` };
      const virtualHosts = buildVirtualHosts(admitted, where, routes, statuses, origins).map((vhost) => ({
        ...vhost,
        routes: vhost.routes.filter((route) => {
          if (route.action.type === "forward") return true;
          // Reported with its problem (buildVirtualHosts), once.
          if (route.unservable) return false;
          statuses.warn(
            kindKey("RouteTable", vhost.name),
            `route ${route.name}: gRPC clients only forward (no redirect or direct response); left out for Gateway ${name}`,
          );
          return false;
        }),
      }));
      listeners.push({ name: "grpc", port: 0, bindAddress: "", httpsRedirect: false, virtualHosts });
    } else {
      if (spec.listeners.length === 0) statuses.warn(key, "spec.listeners: empty; the gateway serves nothing");
      const ports = new Set<number>();
      let ok = true;
      spec.listeners.forEach((listener, i) => {
        const field = `spec.listeners[${i}]`;
        const eastWest = listener.protocol === Protocol.EAST_WEST;
        const problems = eastWest
          ? [...portProblems(listener, field, ports), ...eastWestListenerProblems(listener, field, placement)]
          : listenerProblems(listener, field, gateway.metadata.namespace, secrets, ports);
        for (const p of problems) statuses.invalid(key, p);
        if (problems.length > 0) {
          ok = false;
          return;
        }
        ports.add(listener.port);
        const listenerName = listener.name || `${listener.port}`;
        admissions.push({
          label: `listener ${listenerName} (port ${listener.port})`,
          field: `${field}.allowedRouteTables`,
          selectors: listener.allowedRouteTables,
          eastWest,
        });
        if (eastWest) {
          const cluster = placement[0] ?? "";
          listeners.push({
            name: listenerName,
            port: listener.port,
            bindAddress: listener.bindAddress || "0.0.0.0",
            httpsRedirect: false,
            virtualHosts: [],
            // Its routes are joined in once VirtualDestinations and gateways are known (east-west.ts).
            eastWest: { cluster, addresses: externalAddresses(listener), passthrough: [] },
          });
          return;
        }
        const admitted = namingThis.filter((rt) => admits(listener.allowedRouteTables, rt));
        const where = { name: `${key} listener ${listenerName}`, unservable: "the route answers 500" };
        const virtualHosts = buildVirtualHosts(admitted, where, routes, statuses, origins);
        const tls = listener.tls;
        const namespace = gateway.metadata.namespace;
        listeners.push({
          name: listenerName,
          port: listener.port,
          bindAddress: listener.bindAddress || "0.0.0.0",
          httpsRedirect: listener.httpsRedirect,
          virtualHosts,
          ...(listener.protocol === Protocol.HTTPS && tls?.secret
            ? {
                tls: {
                  secret: refName(tls.secret, namespace),
                  mode: tls.mode === TlsMode.MUTUAL ? ("MUTUAL" as const) : ("SIMPLE" as const),
                  ...(tls.clientCa ? { clientCa: refName(tls.clientCa, namespace) } : {}),
                },
              }
            : {}),
        });
        if (listener.protocol === Protocol.HTTPS && tls?.secret)
          origins.add(kindKey("Secret", refName(tls.secret, namespace)));
      });
      if (!ok) continue;
    }
    for (const rt of namingThis) {
      if (!listeners.some((l) => l.virtualHosts.some((v) => v.name === nsName(rt)))) {
        statuses.warn(resourceKey(rt), notServedMessage(name, admissions, rt));
      }
    }
    gateways.push({
      name,
      proxies,
      kind: spec.kind === ProxyKind.GRPC_PROXYLESS ? "grpc" : "envoy",
      listeners,
      origins,
    });
  }
  for (const rt of routeTables) {
    for (const [g, ref] of rt.spec.gateways.entries()) {
      const name = refName(ref, rt.metadata.namespace);
      if (!index.of("Gateway").has(name))
        statuses.warn(resourceKey(rt), `spec.gateways[${g}]: Gateway ${name} not found`);
    }
  }
  return gateways;
}

/**
 * A route table placed in clusters attaches only to gateways placed within them: a gateway's proxies
 * share one configuration, so what it serves must hold in every cluster it is placed in.
 */
function placementProblem(rt: ResourceOf<"RouteTable">, gatewayClusters: readonly string[]): string | undefined {
  const placed = clustersOf(rt.metadata);
  if (placed.length === 0) return undefined;
  if (gatewayClusters.length === 0) {
    return `metadata.clusters: the route table is placed in ${placed.join(", ")}, the gateway in every cluster`;
  }
  const outside = gatewayClusters.filter((c) => !placed.includes(c));
  if (outside.length === 0) return undefined;
  return `metadata.clusters: the gateway is placed in ${outside.join(", ")} too, where the route table is not`;
}

/** What every listener is checked for: its port, unique on the gateway, and its bind address. */
function portProblems(listener: GatewayListener, field: string, ports: Set<number>): string[] {
  const problems: string[] = [];
  if (listener.port < 1 || listener.port > 65535) problems.push(`${field}.port: must be 1..65535`);
  if (ports.has(listener.port)) problems.push(`${field}.port: ${listener.port} is used by another listener`);
  if (listener.bindAddress !== "" && isIP(listener.bindAddress) === 0) {
    problems.push(`${field}.bindAddress: "${listener.bindAddress}" is not an IP address`);
  }
  return problems;
}

function listenerProblems(
  listener: GatewayListener,
  field: string,
  namespace: string,
  secrets: Map<string, ModelSecret>,
  ports: Set<number>,
): string[] {
  const problems = portProblems(listener, field, ports);
  if (listener.externalAddresses.length > 0) problems.push(`${field}.externalAddresses: only for EAST_WEST listeners`);
  const tls = listener.tls;
  if (listener.protocol === Protocol.HTTPS) {
    if (!tls?.secret) problems.push(`${field}.tls.secret: required for HTTPS`);
    else {
      const secret = secrets.get(refName(tls.secret, namespace));
      if (!secret) problems.push(`${field}.tls.secret: Secret ${refName(tls.secret, namespace)} not found or invalid`);
      else if (secret.type !== "tls") problems.push(`${field}.tls.secret: Secret ${secret.name} is not a tls secret`);
    }
    if (tls?.mode === TlsMode.MUTUAL) {
      const ca = tls.clientCa ? secrets.get(refName(tls.clientCa, namespace)) : undefined;
      if (!tls.clientCa) problems.push(`${field}.tls.clientCa: required for MUTUAL`);
      else if (!ca)
        problems.push(`${field}.tls.clientCa: Secret ${refName(tls.clientCa, namespace)} not found or invalid`);
      else if (ca.type !== "ca") problems.push(`${field}.tls.clientCa: Secret ${ca.name} is not a ca secret`);
    }
    if (listener.httpsRedirect) problems.push(`${field}.httpsRedirect: only for HTTP listeners`);
  } else if (tls) {
    problems.push(`${field}.tls: only for HTTPS listeners`);
  }
  return problems;
}

/**
 * The virtual hosts of admitted route tables on one listener (or a proxyless gateway's clients),
 * `where.name`. A route that cannot forward is reported there with what its clients get of it
 * (`where.unservable`): Envoy answers 500, gRPC clients are not given it.
 */
function buildVirtualHosts(
  routeTables: ResourceOf<"RouteTable">[],
  where: { name: string; unservable: string },
  routes: RouteFlattener,
  statuses: StatusCollector,
  origins: Set<string>,
): ModelVirtualHost[] {
  const claimed = new Map<string, string>();
  const out: ModelVirtualHost[] = [];
  for (const rt of routeTables) {
    const key = resourceKey(rt);
    if (rt.spec.hosts.length === 0) {
      statuses.invalid(key, "spec.hosts: required on a route table that names gateways");
      continue;
    }
    const domains: string[] = [];
    for (const host of rt.spec.hosts) {
      const owner = claimed.get(host);
      if (owner !== undefined) {
        statuses.warn(key, `spec.hosts: "${host}" is already served by RouteTable ${owner} on ${where.name}; not here`);
        continue;
      }
      claimed.set(host, nsName(rt));
      domains.push(host);
    }
    if (domains.length === 0) continue;
    const flattened = routes.routesOf(rt);
    for (const { routeTable, problem } of flattened.unservable) {
      statuses.warn(routeTable, `${problem}; ${where.unservable}`);
    }
    for (const origin of flattened.origins) origins.add(origin);
    out.push({ name: nsName(rt), domains, routes: flattened.routes });
  }
  return out;
}
