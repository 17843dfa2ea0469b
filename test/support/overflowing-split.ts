// A RouteConfiguration every xDS client NACKs and Gantry never publishes: a weighted split whose
// weights each fit their uint32 but add up past it. Gantry refuses such a route table at apply, so a
// test that needs a real client NACK sends this one past the validator, through the management
// server's test seam (`unvalidatedResourcesForTests`).
import { fromBinary } from "@bufbuild/protobuf";
import { encodeResource, TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import type { Resource } from "../../src/resources/index.js";
import { Translator } from "../../src/translate/index.js";

/** Weights whose sum (6e9) does not fit the uint32 every xDS client sums them in; each one does. */
export const overflowingWeight = 3_000_000_000;

/**
 * The RouteConfiguration that `resources` translate to for `host`, with every weight of its splits
 * raised to overflowingWeight. Throws unless that host has a split over two or more clusters.
 */
export function overflowingSplit(resources: readonly Resource[], host: string): XdsResource {
  for (const resource of new Translator().translate(resources).groups.flatMap((g) => g.resources)) {
    if (resource.typeUrl !== TypeUrl.route) continue;
    const config = fromBinary(RouteConfigurationSchema, resource.value);
    if (!config.virtualHosts.some((vhost) => vhost.domains.includes(host))) continue;
    const clusters = config.virtualHosts
      .flatMap((vhost) => vhost.routes)
      .flatMap(({ action }) =>
        action.case === "route" && action.value.clusterSpecifier.case === "weightedClusters"
          ? action.value.clusterSpecifier.value.clusters
          : [],
      );
    if (clusters.length < 2) continue;
    for (const cluster of clusters) cluster.weight = overflowingWeight;
    return encodeResource(RouteConfigurationSchema, config);
  }
  throw new Error(`the translated resources have no split over two clusters for ${host}`);
}
