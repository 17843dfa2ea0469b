import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { TypeUrl, typeUrlOf } from "../envoy/index.js";
import { type Cluster, Cluster_DiscoveryType, ClusterSchema } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { HttpConnectionManagerSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { Snapshot } from "./snapshot.js";

const hcmTypeUrl = typeUrlOf(HttpConnectionManagerSchema.typeName);

function routeNameOf(config: Any | undefined): string | undefined {
  if (config?.typeUrl !== hcmTypeUrl) return undefined;
  const hcm = fromBinary(HttpConnectionManagerSchema, config.value);
  return hcm.routeSpecifier.case === "rds" ? hcm.routeSpecifier.value.routeConfigName : undefined;
}

/** The RouteConfiguration names a listener loads by RDS, from its HTTP connection managers. */
export function routeNamesOf(listenerBytes: Uint8Array): string[] {
  const listener = fromBinary(ListenerSchema, listenerBytes);
  const configs: Array<Any | undefined> = [listener.apiListener?.apiListener];
  const chains = listener.defaultFilterChain
    ? [...listener.filterChains, listener.defaultFilterChain]
    : listener.filterChains;
  for (const chain of chains) {
    for (const filter of chain.filters) {
      if (filter.configType.case === "typedConfig") configs.push(filter.configType.value);
    }
  }
  return configs.map(routeNameOf).filter((name): name is string => name !== undefined);
}

/** The ClusterLoadAssignment name an EDS cluster loads, or undefined for other discovery types. */
export function endpointNameOf(cluster: Cluster): string | undefined {
  const discovery = cluster.clusterDiscoveryType;
  if (discovery.case !== "type" || discovery.value !== Cluster_DiscoveryType.EDS) return undefined;
  const serviceName = cluster.edsClusterConfig?.serviceName ?? "";
  return serviceName !== "" ? serviceName : cluster.name;
}

function decoded<T>(problems: string[], what: string, decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    problems.push(`${what} cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/**
 * Problems that make a snapshot inconsistent: a listener naming a route configuration, or an EDS
 * cluster naming endpoints, that the snapshot does not hold. Clients would wait on them forever.
 * The cache does not run this: a publisher checks its snapshot before `setSnapshot`, as
 * go-control-plane's callers check `Snapshot.Consistent()`.
 */
export function consistencyProblems(snapshot: Snapshot): string[] {
  const problems: string[] = [];
  const routes = snapshot.resources(TypeUrl.route);
  for (const listener of snapshot.resources(TypeUrl.listener).values()) {
    const names = decoded(problems, `listener "${listener.name}"`, () => routeNamesOf(listener.value)) ?? [];
    for (const name of names) {
      if (!routes.has(name))
        problems.push(`listener "${listener.name}" names route configuration "${name}", which is missing`);
    }
  }
  const endpoints = snapshot.resources(TypeUrl.endpoint);
  for (const resource of snapshot.resources(TypeUrl.cluster).values()) {
    const cluster = decoded(problems, `cluster "${resource.name}"`, () => fromBinary(ClusterSchema, resource.value));
    const name = cluster && endpointNameOf(cluster);
    if (name !== undefined && !endpoints.has(name)) {
      problems.push(`cluster "${resource.name}" loads endpoints "${name}" by EDS, which are missing`);
    }
  }
  return problems;
}
