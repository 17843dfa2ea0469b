// The snapshot both servers serve, built with Gantry's own encoders: 20 listeners, each with its
// routes by RDS (20 route configurations × 50 virtual hosts × 10 routes = 10,000 routes), 1,000 EDS
// clusters and their ClusterLoadAssignments (3 endpoints each). Revision r changes one route's
// prefix in route configuration r % 20: one change, one RDS resource.
import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { encodeResource } from "../../dist/envoy/index.js";
import { Cluster_DiscoveryType, ClusterSchema } from "../../dist/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../dist/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../dist/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../dist/gen/envoy/config/route/v3/route_pb.js";
import { RouterSchema } from "../../dist/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { HttpConnectionManagerSchema } from "../../dist/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";

export const listeners = 20;
export const clusters = 1_000;
const hostsPerRouteConfig = 50;
const routesPerHost = 10;
export const routeCount = listeners * hostsPerRouteConfig * routesPerHost;

const ads = { configSourceSpecifier: { case: "ads", value: {} } };
const pad = (n, width) => String(n).padStart(width, "0");
export const clusterName = (i) => `c-${pad(i, 4)}`;
export const routeConfigName = (i) => `r-${pad(i, 2)}`;

function cluster(name) {
  return encodeResource(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ads },
    connectTimeout: create(DurationSchema, { seconds: 1n }),
  });
}

function endpoints(name, i) {
  return encodeResource(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [
      {
        locality: { region: "bench", zone: "a" },
        lbEndpoints: [0, 1, 2].map((k) => ({
          hostIdentifier: {
            case: "endpoint",
            value: {
              address: {
                address: {
                  case: "socketAddress",
                  value: {
                    address: `10.${(i >> 8) & 255}.${i & 255}.${k + 1}`,
                    portSpecifier: { case: "portValue", value: 8080 },
                  },
                },
              },
            },
          },
        })),
      },
    ],
  });
}

function listener(i) {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: `ingress-${i}`,
    routeSpecifier: { case: "rds", value: { routeConfigName: routeConfigName(i), configSource: ads } },
    httpFilters: [
      { name: "router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) } },
    ],
  });
  return encodeResource(ListenerSchema, {
    name: `l-${pad(i, 2)}`,
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 10_000 + i } },
      },
    },
    filterChains: [
      {
        filters: [
          { name: "hcm", configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) } },
        ],
      },
    ],
  });
}

function routeConfiguration(r, revision) {
  const changed = revision > 0 && revision % listeners === r;
  return encodeResource(RouteConfigurationSchema, {
    name: routeConfigName(r),
    virtualHosts: Array.from({ length: hostsPerRouteConfig }, (_, h) => {
      const host = r * hostsPerRouteConfig + h;
      return {
        name: `vh-${pad(host, 4)}`,
        domains: [`h${host}.bench.example`],
        routes: Array.from({ length: routesPerHost }, (_, k) => ({
          name: `route-${host}-${k}`,
          match: {
            pathSpecifier: { case: "prefix", value: changed && h === 0 && k === 0 ? `/v${revision}/p0` : `/p${k}` },
          },
          action: {
            case: "route",
            value: { clusterSpecifier: { case: "cluster", value: clusterName((host * routesPerHost + k) % clusters) } },
          },
        })),
      };
    }),
  });
}

/** Every resource of the snapshot at `revision`. */
export function snapshotResources(revision) {
  return [
    ...Array.from({ length: listeners }, (_, i) => listener(i)),
    ...Array.from({ length: listeners }, (_, i) => routeConfiguration(i, revision)),
    ...Array.from({ length: clusters }, (_, i) => cluster(clusterName(i))),
    ...Array.from({ length: clusters }, (_, i) => endpoints(clusterName(i), i)),
  ];
}

/**
 * The same resources as bytes for the Go server: per resource, type URL and name (each a 2-byte
 * length and UTF-8), then the encoded message (a 4-byte length and the bytes).
 */
export function encodeSnapshot(resources) {
  const parts = [];
  for (const { typeUrl, name, value } of resources) {
    for (const text of [typeUrl, name]) {
      const bytes = Buffer.from(text);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      parts.push(length, bytes);
    }
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.length);
    parts.push(length, Buffer.from(value));
  }
  return Buffer.concat(parts);
}
