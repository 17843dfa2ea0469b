import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { encodeResource, type XdsResource } from "../../src/envoy/index.js";
import { Cluster_DiscoveryType, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { RouterSchema } from "../../src/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { HttpConnectionManagerSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";

/** An EDS cluster whose endpoints come over ADS. */
export function edsCluster(name: string, connectTimeoutSeconds = 1): XdsResource {
  return encodeResource(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } },
    connectTimeout: create(DurationSchema, { seconds: BigInt(connectTimeoutSeconds) }),
  });
}

/** Endpoints for `cluster` at 127.0.0.1 on `ports`, in one locality. */
export function endpoints(cluster: string, ...ports: number[]): XdsResource {
  return encodeResource(ClusterLoadAssignmentSchema, {
    clusterName: cluster,
    endpoints: [
      {
        locality: { region: "local" },
        loadBalancingWeight: 1,
        lbEndpoints: ports.map((port) => ({
          hostIdentifier: {
            case: "endpoint" as const,
            value: {
              address: {
                address: {
                  case: "socketAddress" as const,
                  value: { address: "127.0.0.1", portSpecifier: { case: "portValue" as const, value: port } },
                },
              },
            },
          },
          loadBalancingWeight: 1,
        })),
      },
    ],
  });
}

function httpConnectionManager(routeName: string) {
  return anyPack(
    HttpConnectionManagerSchema,
    create(HttpConnectionManagerSchema, {
      statPrefix: "http",
      routeSpecifier: {
        case: "rds",
        value: { routeConfigName: routeName, configSource: { configSourceSpecifier: { case: "ads", value: {} } } },
      },
      httpFilters: [
        { name: "router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) } },
      ],
    }),
  );
}

/** A listener as gRPC clients use it: an API listener whose routes come by RDS. */
export function apiListener(name: string, routeName: string): XdsResource {
  return encodeResource(ListenerSchema, { name, apiListener: { apiListener: httpConnectionManager(routeName) } });
}

/** A listener as Envoy uses it: a port with one filter chain whose routes come by RDS. */
export function portListener(name: string, port: number, routeName: string): XdsResource {
  return encodeResource(ListenerSchema, {
    name,
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: port } },
      },
    },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: { case: "typedConfig", value: httpConnectionManager(routeName) },
          },
        ],
      },
    ],
  });
}

/** Routes sending every path of every domain to `cluster`. */
export function routes(name: string, cluster: string, domain = "*"): XdsResource {
  return encodeResource(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name: `${name}-vh`,
        domains: [domain],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix", value: "" } },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: cluster } } },
          },
        ],
      },
    ],
  });
}

/** A complete, consistent view: listener → routes → cluster → endpoints. */
export function service(name: string, ...ports: number[]): XdsResource[] {
  return [
    apiListener(name, `${name}-routes`),
    routes(`${name}-routes`, `${name}-cluster`),
    edsCluster(`${name}-cluster`),
    endpoints(`${name}-cluster`, ...ports),
  ];
}
