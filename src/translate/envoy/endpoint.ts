import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { LocalityLbEndpointsSchema } from "../../gen/envoy/config/endpoint/v3/endpoint_components_pb.js";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import type { ModelEndpoint } from "../model.js";

function localityKey(e: ModelEndpoint): string {
  return `${e.locality.region}\0${e.locality.zone}\0${e.locality.subZone}`;
}

/**
 * Endpoints grouped by locality, in a stable order. Each locality carries a weight (the sum of
 * its endpoints'), because gRPC clients ignore localities without one.
 */
export function buildLoadAssignment(clusterName: string, endpoints: readonly ModelEndpoint[]): ClusterLoadAssignment {
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
  const localities: MessageInitShape<typeof LocalityLbEndpointsSchema>[] = [...byLocality.values()].map((group) => ({
    locality: group[0]?.locality ?? {},
    loadBalancingWeight: group.reduce((sum, e) => sum + e.weight, 0),
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
      loadBalancingWeight: e.weight,
    })),
  }));
  return create(ClusterLoadAssignmentSchema, { clusterName, endpoints: localities });
}
