// The xDS server under test, in its own process, driven over IPC by scale.mjs.
// Groups: node.cluster picks the view ("envoy" for the fleet, "bytes" for the wire-size check).
//   node server.mjs [--whole-sotw]
import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { encodeResource, TypeUrl } from "../../dist/envoy/index.js";
import { Cluster_DiscoveryType, ClusterSchema } from "../../dist/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../dist/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../dist/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../dist/gen/envoy/config/route/v3/route_pb.js";
import { RouterSchema } from "../../dist/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { HttpConnectionManagerSchema } from "../../dist/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { createLogger } from "../../dist/lib/index.js";
import { SnapshotCache, startXdsServer } from "../../dist/xds/index.js";

const ads = { configSourceSpecifier: { case: "ads", value: {} } };

function cluster(name) {
  return encodeResource(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ads },
    connectTimeout: create(DurationSchema, { seconds: 1n }),
  });
}

function endpoints(name, hosts, base = 0) {
  return encodeResource(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [
      {
        locality: { region: "bench", zone: "a" },
        loadBalancingWeight: 1,
        lbEndpoints: Array.from({ length: hosts }, (_, i) => ({
          hostIdentifier: {
            case: "endpoint",
            value: {
              address: {
                address: {
                  case: "socketAddress",
                  value: {
                    address: `10.${((base + i) >> 8) & 255}.${(base + i) & 255}.7`,
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

function listener() {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "ingress",
    routeSpecifier: { case: "rds", value: { routeConfigName: "routes", configSource: ads } },
    httpFilters: [
      { name: "router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) } },
    ],
  });
  return encodeResource(ListenerSchema, {
    name: "ingress",
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 8080 } },
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

/** One route configuration: a virtual host per cluster; `revision` changes one route's prefix. */
function routes(clusters, revision) {
  return encodeResource(RouteConfigurationSchema, {
    name: "routes",
    virtualHosts: clusters.map((name, i) => ({
      name,
      domains: [`${name}.example.com`],
      routes: [
        {
          match: { pathSpecifier: { case: "prefix", value: i === 0 ? `/v${revision}` : "/" } },
          action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: name } } },
        },
      ],
    })),
  });
}

function names(count, prefix) {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
}

const cache = new SnapshotCache({ nodeGroupOf: (node) => node.cluster });
let change; // { at, expected, latencies, done }
let bytesChange; // { at, acked: Set<kind> }
const hooks = {
  onAck(stream, ack) {
    if (change && ack.push.publishedAt === change.at && ack.push.typeUrl === TypeUrl.route) {
      change.latencies.push(ack.at - change.at);
      if (change.latencies.length === change.expected) {
        process.send({ op: "changed", latencies: change.latencies });
        change = undefined;
      }
    }
    if (bytesChange && ack.push.publishedAt === bytesChange.at && ack.push.typeUrl === TypeUrl.endpoint) {
      bytesChange.acked.add(stream.kind);
      if (bytesChange.acked.size === 2) {
        process.send({ op: "bytes-changed" });
        bytesChange = undefined;
      }
    }
  },
};
const logger = createLogger({ service: "xds-bench", level: "warn" });
// --whole-sotw: SotW responses always carry the whole subscribed set (the comparison row).
const partialSotwUpdates = !process.argv.includes("--whole-sotw");
const server = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger, hooks, partialSotwUpdates });

const fleet = names(10, "svc");
let revision = 0;
function publishFleet() {
  cache.setSnapshot("envoy", [
    listener(),
    routes(fleet, revision),
    ...fleet.map(cluster),
    ...fleet.map((n) => endpoints(n, 3)),
  ]);
}
const big = names(1000, "big");
function publishBig(moved) {
  cache.setSnapshot("bytes", [
    ...big.map(cluster),
    ...big.map((n, i) => endpoints(n, 3, i === 0 && moved ? 9_000 : i * 3)),
  ]);
}
publishFleet();
publishBig(false);

function memory() {
  globalThis.gc?.();
  globalThis.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

function ackedRoutes() {
  return server
    .proxyStatus()
    .filter((p) => p.group === "envoy" && p.types.some((t) => t.typeUrl === TypeUrl.route && t.acked)).length;
}

process.on("message", (message) => {
  switch (message.op) {
    case "memory":
      process.send({ op: "memory", ...memory() });
      break;
    case "acked":
      process.send({ op: "acked", count: ackedRoutes(), open: server.proxyStatus().length });
      break;
    case "change":
      revision += 1;
      publishFleet();
      change = { at: cache.snapshot("envoy").changedAt.get(TypeUrl.route), expected: message.expected, latencies: [] };
      break;
    case "bytes-change":
      publishBig(true);
      bytesChange = { at: cache.snapshot("bytes").changedAt.get(TypeUrl.endpoint), acked: new Set() };
      break;
    case "stop":
      server.stop(200).then(() => process.exit(0));
      break;
  }
});
process.send({ op: "ready", port: server.port, fleet, big });
