import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { HealthStatus } from "../../gen/envoy/config/core/v3/health_check_pb.js";
import type { LocalityLbEndpointsSchema } from "../../gen/envoy/config/endpoint/v3/endpoint_components_pb.js";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import type { ModelAddress, ModelEndpoint, ModelFailover } from "../model.js";
import { eastWestEndpointMetadata } from "./east-west.js";
import type { ClientKind } from "./route.js";

type LocalityInit = MessageInitShape<typeof LocalityLbEndpointsSchema>;

function localityKey(e: ModelEndpoint): string {
  return `${e.locality.region}\0${e.locality.zone}\0${e.locality.subZone}`;
}

const healthStatus = {
  HEALTHY: HealthStatus.HEALTHY,
  UNHEALTHY: HealthStatus.UNHEALTHY,
  DRAINING: HealthStatus.DRAINING,
} as const;

/**
 * Endpoints grouped by locality, in a stable order. Each locality carries a weight (the sum of
 * its endpoints'), because gRPC clients ignore localities without one.
 */
function localities(endpoints: readonly ModelEndpoint[], priority: number): LocalityInit[] {
  const byLocality = new Map<string, ModelEndpoint[]>();
  const sorted = [...endpoints].sort((a, b) => {
    const ka = `${localityKey(a)}\0${a.address}\0${a.port}`;
    const kb = `${localityKey(b)}\0${b.address}\0${b.port}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  for (const endpoint of sorted) {
    const key = localityKey(endpoint);
    byLocality.set(key, [...(byLocality.get(key) ?? []), endpoint]);
  }
  return [...byLocality.values()].map((group) => ({
    locality: group[0]?.locality ?? {},
    loadBalancingWeight: group.reduce((sum, e) => sum + e.weight, 0),
    ...(priority > 0 ? { priority } : {}),
    lbEndpoints: group.map((e) => ({
      hostIdentifier: {
        case: "endpoint",
        value: {
          address: {
            address: {
              case: "socketAddress",
              value: { address: e.address, portSpecifier: { case: "portValue", value: e.port } },
            },
          },
        },
      },
      ...(e.health ? { healthStatus: healthStatus[e.health] } : {}),
      loadBalancingWeight: e.weight,
    })),
  }));
}

export function buildLoadAssignment(clusterName: string, endpoints: readonly ModelEndpoint[]): ClusterLoadAssignment {
  return create(ClusterLoadAssignmentSchema, { clusterName, endpoints: localities(endpoints, 0) });
}

/**
 * The order in which a caller of `callerCluster` ("" when it has none) tries a VirtualDestination's
 * member clusters: its own first when it is a member, then the failover order.
 */
export function priorityOrder(failover: ModelFailover, callerCluster: string): string[] {
  if (!(callerCluster in failover.endpoints)) return failover.order;
  return [callerCluster, ...failover.order.filter((c) => c !== callerCluster)];
}

/**
 * A VirtualDestination port's endpoints as one caller cluster sees them: each member cluster at its
 * own priority (0 for the caller's own), in a locality whose region is the cluster's name, so that no
 * locality appears at two priorities (gRPC refuses that) and each cluster fails over as a whole.
 * Priorities are contiguous: a cluster without endpoints takes none.
 *
 * Proxyless gRPC callers (on one flat network) get every cluster's endpoints directly. Envoy callers
 * get their own cluster's directly and reach another cluster through its east-west gateways
 * (`gatewayLocality`); a cluster without one is not theirs to reach, and is left out (the
 * VirtualDestination's status says so).
 */
export function buildFailoverAssignment(
  clusterName: string,
  failover: ModelFailover,
  callerCluster: string,
  client: ClientKind,
): ClusterLoadAssignment {
  const endpoints: LocalityInit[] = [];
  let priority = 0;
  for (const cluster of priorityOrder(failover, callerCluster)) {
    const members = failover.endpoints[cluster] ?? [];
    if (members.length === 0) continue;
    if (client === "envoy" && cluster !== callerCluster) {
      const gateways = failover.eastWest.gateways[cluster];
      if (!gateways) continue;
      endpoints.push(gatewayLocality(cluster, members, gateways, priority));
    } else {
      const inCluster = members.map((e) => ({ ...e, locality: { ...e.locality, region: cluster } }));
      endpoints.push(...localities(inCluster, priority));
    }
    priority++;
  }
  return create(ClusterLoadAssignmentSchema, {
    clusterName,
    endpoints,
    ...(failover.overprovisioningFactor ? { policy: { overprovisioningFactor: failover.overprovisioningFactor } } : {}),
  });
}

/**
 * Another cluster as an Envoy caller reaches it: its east-west gateways, marked for the cluster's
 * east-west transport socket. They stand for the cluster's endpoints, so they are UNHEALTHY when
 * none of those is usable (callers then move on to the next priority, as with direct endpoints), and
 * the locality weighs what the endpoints weigh.
 */
function gatewayLocality(
  cluster: string,
  members: readonly ModelEndpoint[],
  gateways: readonly ModelAddress[],
  priority: number,
): LocalityInit {
  const usable = members.some((e) => e.health === undefined || e.health === "HEALTHY");
  return {
    locality: { region: cluster },
    loadBalancingWeight: members.reduce((sum, e) => sum + e.weight, 0),
    ...(priority > 0 ? { priority } : {}),
    lbEndpoints: gateways.map((gateway) => ({
      hostIdentifier: {
        case: "endpoint",
        value: {
          address: {
            address: {
              case: "socketAddress",
              value: { address: gateway.address, portSpecifier: { case: "portValue", value: gateway.port } },
            },
          },
        },
      },
      metadata: eastWestEndpointMetadata(),
      ...(usable ? {} : { healthStatus: HealthStatus.UNHEALTHY }),
      loadBalancingWeight: 1,
    })),
  };
}
