// East-west gateways: the EAST_WEST listener of a Gateway placed in one workload cluster takes TLS
// from other clusters and passes it, unterminated, by SNI to that cluster's endpoints of a
// VirtualDestination port; Envoy callers elsewhere reach those endpoints through it
// (envoy/endpoint.ts). Here: the listener's checks, the SNI names, and the VirtualDestination
// clusters joined with the gateways' addresses (docs/multicluster-routing.md#east-west-gateways).
import { isIP } from "node:net";
import type { GatewayListener } from "../../gen/gantry/v1/gateway_pb.js";
import { kindKey } from "../../resources/index.js";
import type { ModelAddress, ModelCluster, ModelEastWestListener, ModelGateway } from "../model.js";
import type { StatusCollector } from "../status.js";
import { defaultConnectTimeoutMs } from "./common.js";

/**
 * The SNI callers send for a VirtualDestination port (`namespace/name`), and east-west gateways
 * route by: `outbound_.<port>_.<name>_.<namespace>.vd.gantry`. Names never hold `_`, so the
 * separators keep two VirtualDestinations' names apart even when their names hold dots.
 */
export function eastWestSni(virtualDestination: string, port: number): string {
  const slash = virtualDestination.indexOf("/");
  const namespace = virtualDestination.slice(0, slash);
  const name = virtualDestination.slice(slash + 1);
  return `outbound_.${port}_.${name}_.${namespace}.vd.gantry`;
}

/**
 * The cluster an east-west gateway in `cluster` forwards one VirtualDestination port's SNI to: that
 * port's endpoints in its own cluster (the cluster in the name: each gateway's is another set).
 */
export function localClusterName(cluster: string, virtualDestination: string, port: number): string {
  return `eastwest:${cluster}:${virtualDestination}:${port}`;
}

/** What is wrong with an EAST_WEST listener of a gateway placed in `placement`. */
export function eastWestListenerProblems(
  listener: GatewayListener,
  field: string,
  placement: readonly string[],
): string[] {
  const problems: string[] = [];
  if (placement.length !== 1) {
    problems.push(
      `${field}.protocol: EAST_WEST serves the endpoints of the one cluster its gateway runs in; place the gateway in exactly one cluster (metadata.clusters), not ${placement.length === 0 ? "every cluster" : placement.join(", ")}`,
    );
  }
  if (listener.externalAddresses.length === 0) {
    problems.push(`${field}.externalAddresses: at least one is required (where other clusters reach this listener)`);
  }
  listener.externalAddresses.forEach((external, i) => {
    if (isIP(external.address) === 0) {
      problems.push(
        `${field}.externalAddresses[${i}].address: "${external.address}" is not an IP address (callers' EDS does not resolve names)`,
      );
    }
    if (external.port > 65535) problems.push(`${field}.externalAddresses[${i}].port: must be 1..65535`);
  });
  if (listener.tls) problems.push(`${field}.tls: not for EAST_WEST (TLS passes through to the workloads)`);
  if (listener.httpsRedirect) problems.push(`${field}.httpsRedirect: only for HTTP listeners`);
  if (listener.allowedRouteTables.length > 0) {
    problems.push(`${field}.allowedRouteTables: EAST_WEST takes no route tables (it forwards by SNI)`);
  }
  return problems;
}

/** An EAST_WEST listener's addresses, each port defaulting to the listener's. */
export function externalAddresses(listener: GatewayListener): ModelAddress[] {
  return listener.externalAddresses.map((a) => ({ address: a.address, port: a.port || listener.port }));
}

export interface EastWest {
  gateways: ModelGateway[];
  /** Every VirtualDestination cluster, with the east-west gateways of its member clusters. */
  failover: Map<string, ModelCluster>;
  /** The local-only clusters east-west listeners forward to, by name. */
  local: Map<string, ModelCluster>;
}

/**
 * Joins east-west gateways and VirtualDestinations: each VirtualDestination port learns the
 * addresses of its member clusters' gateways, and each east-west listener gets one passthrough
 * route per VirtualDestination port with endpoints in its cluster.
 */
export function connectEastWest(
  gateways: ModelGateway[],
  virtualClusters: ReadonlyMap<string, ModelCluster>,
): EastWest {
  const addresses = new Map<string, ModelAddress[]>();
  for (const gateway of gateways) {
    for (const listener of gateway.listeners) {
      if (!listener.eastWest) continue;
      const { cluster } = listener.eastWest;
      addresses.set(cluster, [...(addresses.get(cluster) ?? []), ...listener.eastWest.addresses]);
    }
  }
  const failover = new Map<string, ModelCluster>();
  const local = new Map<string, ModelCluster>();
  /** By workload cluster: the passthrough routes to its local clusters, and the resources they come from. */
  const passthrough = new Map<string, { sni: string; cluster: string }[]>();
  const origins = new Map<string, string[]>();
  for (const [name, cluster] of virtualClusters) {
    const discovery = cluster.discovery;
    if (discovery.type !== "failover") continue;
    const gatewaysOf: Record<string, ModelAddress[]> = {};
    for (const member of Object.keys(discovery.endpoints)) {
      const found = addresses.get(member);
      if (found) gatewaysOf[member] = sortedAddresses(found);
      const endpoints = discovery.endpoints[member] ?? [];
      if (!found || endpoints.length === 0) continue;
      const localName = localClusterName(member, cluster.destination, discovery.eastWest.port);
      local.set(localName, {
        name: localName,
        destination: cluster.destination,
        owner: "VirtualDestination",
        // The gateway forwards bytes: no HTTP protocol options, whatever the workload speaks.
        protocol: "HTTP1",
        connectTimeoutMs: defaultConnectTimeoutMs,
        discovery: { type: "static", endpoints },
      });
      const routes = passthrough.get(member) ?? [];
      routes.push({ sni: discovery.eastWest.sni, cluster: localName });
      passthrough.set(member, routes);
      origins.set(member, [...(origins.get(member) ?? []), kindKey("VirtualDestination", cluster.destination)]);
    }
    failover.set(name, {
      ...cluster,
      discovery: { ...discovery, eastWest: { ...discovery.eastWest, gateways: gatewaysOf } },
    });
  }
  for (const routes of passthrough.values()) routes.sort((a, b) => (a.sni < b.sni ? -1 : a.sni > b.sni ? 1 : 0));
  const connected = gateways.map((gateway) => {
    const served = gateway.listeners.flatMap((l) => (l.eastWest ? [l.eastWest.cluster] : []));
    if (served.length === 0) return gateway;
    return {
      ...gateway,
      listeners: gateway.listeners.map((l) =>
        l.eastWest ? { ...l, eastWest: withRoutes(l.eastWest, passthrough.get(l.eastWest.cluster) ?? []) } : l,
      ),
      // What it passes through is made from those VirtualDestinations (`describe` lists the gateway).
      origins: new Set([...gateway.origins, ...served.flatMap((c) => origins.get(c) ?? [])]),
    };
  });
  return { gateways: connected, failover, local };
}

function withRoutes(
  listener: ModelEastWestListener,
  routes: ModelEastWestListener["passthrough"],
): ModelEastWestListener {
  return { ...listener, passthrough: routes };
}

function sortedAddresses(addresses: readonly ModelAddress[]): ModelAddress[] {
  const key = (a: ModelAddress) => `${a.address}\0${String(a.port).padStart(5, "0")}`;
  const unique = new Map(addresses.map((a) => [key(a), a]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, a]) => a);
}

/**
 * Warns when an Envoy gateway forwards to a VirtualDestination one of whose member clusters has no
 * east-west gateway while the gateway's proxies may run outside it: those callers are not given that
 * cluster's endpoints (they could not reach them), which must not go unsaid.
 */
export function warnUnreachable(gateway: ModelGateway, cluster: ModelCluster, statuses: StatusCollector): void {
  const discovery = cluster.discovery;
  if (gateway.kind !== "envoy" || discovery.type !== "failover") return;
  const placement = gateway.proxies.clusters ?? [];
  for (const member of Object.keys(discovery.endpoints)) {
    if (discovery.eastWest.gateways[member] || (discovery.endpoints[member] ?? []).length === 0) continue;
    if (placement.length === 1 && placement[0] === member) continue;
    statuses.warn(kindKey("VirtualDestination", cluster.destination), unreachableMessage(member, gateway.name));
  }
}

function unreachableMessage(cluster: string, gateway: string): string {
  return `cluster ${cluster} has no east-west gateway (a Gateway placed in it with an EAST_WEST listener): Envoy callers of Gateway ${gateway} outside ${cluster} are not given its endpoints`;
}

const unreachablePattern = /^cluster (\S+) has no east-west gateway \(.*\): Envoy callers of Gateway (\S+) outside /;

/** The cluster and gateway a VirtualDestination's status message names when it is `warnUnreachable`'s. */
export function unreachableClusterOf(message: string): { cluster: string; gateway: string } | undefined {
  const match = unreachablePattern.exec(message);
  return match?.[1] && match[2] ? { cluster: match[1], gateway: match[2] } : undefined;
}
