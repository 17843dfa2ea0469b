// normalize: Gantry resources → the neutral Model, with every resource's status.
import { type RejectedDocument, type Resource, refKey, resourceKey } from "../../resources/index.js";
import type { Model, ModelCluster, ModelSecret } from "../model.js";
import { StatusCollector } from "../status.js";
import { normalizeAccess } from "./access.js";
import { Index } from "./common.js";
import { normalizeDestinations } from "./destinations.js";
import { connectEastWest, warnUnreachable } from "./east-west.js";
import { normalizeGateways } from "./gateways.js";
import { normalizePolicies } from "./policies.js";
import { flattenContext, RouteFlattener, RouteMemo } from "./routes.js";
import { normalizeSecrets } from "./secrets.js";
import { membershipOf, normalizeVirtualDestinations } from "./virtual-destinations.js";

/** SPIFFE IDs' trust domain when none is given: the same as `gantry server --trust-domain`'s default. */
export const defaultTrustDomain = "gantry.local";

export interface Normalized {
  model: Model;
  statuses: StatusCollector;
}

/**
 * Resolves references, flattens delegation, attaches policies by selector and collects every
 * resource's status. Pure: the same resources give the same model.
 */
export function normalize(
  resources: readonly Resource[],
  rejected: readonly RejectedDocument[] = [],
  memo: RouteMemo = new RouteMemo(),
  trustDomain: string = defaultTrustDomain,
): Normalized {
  const statuses = new StatusCollector();
  for (const doc of rejected) {
    if (doc.ref) for (const error of doc.errors) statuses.invalid(refKey(doc.ref), error);
  }
  const index = new Index(resources);
  for (const resource of resources) statuses.accept(resourceKey(resource));

  const secrets = normalizeSecrets(index, statuses);
  const destinations = normalizeDestinations(index, secrets, statuses, trustDomain);
  const virtualDestinations = normalizeVirtualDestinations(index, destinations, statuses);
  const policies = normalizePolicies(index, statuses);
  const access = normalizeAccess(index, destinations, trustDomain, statuses);
  const routes = new RouteFlattener(
    index,
    destinations,
    virtualDestinations,
    policies,
    access,
    statuses,
    // Membership is by labels, so a Destination that joins or leaves changes no route table's inputs:
    // it is part of the context (routes to a VirtualDestination carry its members' AccessPolicies).
    memo.reuse(`${flattenContext(index)}\n${membershipOf(virtualDestinations)}\ntrust domain ${trustDomain}`, index),
  );
  const eastWest = connectEastWest(
    normalizeGateways(index, secrets, routes, statuses, { destinations, access }),
    virtualDestinations.clusters,
  );
  const gateways = eastWest.gateways;
  routes.reportUnused();
  for (const policy of policies.all) {
    if (!policies.used.has(policy.key)) statuses.warn(policy.key, "selects no routes");
  }

  const usedClusters = new Map<string, ModelCluster>();
  const usedSecrets = new Map<string, ModelSecret>();
  for (const gateway of gateways) {
    for (const listener of gateway.listeners) {
      if (listener.tls) {
        addSecret(usedSecrets, secrets, listener.tls.secret);
        if (listener.tls.clientCa) addSecret(usedSecrets, secrets, listener.tls.clientCa);
      }
      for (const { cluster } of listener.eastWest?.passthrough ?? []) {
        const model = eastWest.local.get(cluster);
        if (model) usedClusters.set(cluster, model);
      }
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) {
          if (route.action.type !== "forward") continue;
          for (const { cluster } of route.action.destinations) {
            const model = destinations.clusters.get(cluster) ?? eastWest.failover.get(cluster);
            if (!model) continue;
            warnUnreachable(gateway, model, statuses);
            usedClusters.set(cluster, model);
            if (model.tls?.caSecret) addSecret(usedSecrets, secrets, model.tls.caSecret);
            if (model.tls?.clientSecret) addSecret(usedSecrets, secrets, model.tls.clientSecret);
          }
        }
      }
    }
  }
  const model: Model = {
    gateways,
    clusters: sortedMap(usedClusters),
    secrets: sortedMap(usedSecrets),
    rateLimits: policies.rateLimits,
    authConfigIds: [...new Set(policies.authConfigIds)].sort(),
    access,
  };
  return { model, statuses };
}

function sortedMap<V>(map: Map<string, V>): Map<string, V> {
  return new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function addSecret(used: Map<string, ModelSecret>, all: Map<string, ModelSecret>, name: string): void {
  const secret = all.get(name);
  if (secret) used.set(name, secret);
}

export { RouteMemo, routeTableRejected } from "./routes.js";
