// Clusters: those the group's routes forward to, with their endpoints, and Gantry's own services.

import { kindKey } from "../../resources/index.js";
import { serviceClusters } from "../envoy/common.js";
import { clientOf, type GroupContext } from "./group.js";

/**
 * The clusters the group's routes use, in name order, with static endpoints over EDS (a
 * VirtualDestination's per caller cluster); blamed on the destination or virtual destination.
 */
export function processClusters(group: GroupContext): void {
  const { model, compute } = group;
  for (const name of [...group.clusters].sort()) {
    const cluster = model.clusters.get(name);
    if (!cluster) continue;
    const kind = cluster.discovery.type === "failover" ? "VirtualDestination" : (cluster.owner ?? "Destination");
    const origin = kindKey(kind, cluster.destination);
    const built = compute.cluster(cluster, clientOf(group.gateway));
    group.add(built.cluster, origin, "cluster", name);
    if (built.endpoints) group.add(built.endpoints, origin, "endpoints of", name);
    for (const [caller, endpoints] of built.endpointsByCaller ?? []) {
      group.addForCallersIn(caller, endpoints, origin, `endpoints (callers in ${caller}) of`, name);
    }
  }
}

/**
 * The ext-auth and rate-limit services' clusters, when a route of the group calls them and their
 * address is known (otherwise the proxy's bootstrap defines them); blamed on the gateway.
 */
export function processServiceClusters(group: GroupContext): void {
  const { gateway, compute, services } = group;
  let extAuth = false;
  let rateLimit = false;
  for (const listener of gateway.listeners) {
    const needs = compute.needs(listener, clientOf(gateway));
    extAuth ||= needs.extAuth;
    rateLimit ||= needs.rateLimit;
  }
  const wanted: [boolean, string, { host: string; port: number } | undefined][] = [
    [extAuth, serviceClusters.extAuth, services.extAuth],
    [rateLimit, serviceClusters.rateLimit, services.rateLimit],
  ];
  for (const [needed, name, address] of wanted) {
    if (needed && address)
      group.add(compute.serviceCluster(name, address), kindKey("Gateway", gateway.name), "Cluster", name);
  }
}
