import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  Cluster_DiscoveryType,
  type Cluster_LbPolicy,
  ClusterSchema,
} from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import {
  encodeResource,
  envoyRegistry,
  ResourceValidator,
  rawResource,
  SnapshotCache,
  SnapshotError,
  TypeUrl,
  validationProblems,
} from "../../src/xds/index.js";
import { service } from "./fixtures.js";

const check = <S extends Parameters<typeof create>[0]>(schema: S, init: Parameters<typeof create<S>>[1]) =>
  validationProblems(schema, create(schema, init), envoyRegistry);

describe("validation rules from the protos", () => {
  it("accepts the resources a real client accepts", () => {
    expect(new ResourceValidator().problems(service("svc", 8080))).toEqual([]);
    // Optional header fields with loose rules (cluster_header) default to "" and are fine so.
    expect(
      check(RouteConfigurationSchema, {
        name: "split",
        virtualHosts: [
          {
            name: "vh",
            domains: ["*"],
            routes: [
              {
                match: { pathSpecifier: { case: "prefix", value: "/" } },
                action: {
                  case: "route",
                  value: {
                    clusterSpecifier: {
                      case: "weightedClusters",
                      value: {
                        clusters: [
                          { name: "a", weight: 80 },
                          { name: "b", weight: 20 },
                        ],
                      },
                    },
                  },
                },
              },
            ],
          },
        ],
      }),
    ).toEqual([]);
  });

  it("checks clusters: connect_timeout > 0 and defined enum values", () => {
    expect(
      check(ClusterSchema, {
        name: "c",
        clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
        edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } },
        connectTimeout: create(DurationSchema, { seconds: 0n }),
        lbPolicy: 42 as Cluster_LbPolicy,
      }),
    ).toEqual(["connect_timeout: must be greater than 0s, is 0s", "lb_policy: 42 is not a defined LbPolicy value"]);
  });

  it("checks endpoints: cluster name, weights ≥ 1, priority ≤ 128, address and port", () => {
    expect(
      check(ClusterLoadAssignmentSchema, {
        clusterName: "",
        endpoints: [
          {
            priority: 129,
            lbEndpoints: [
              {
                loadBalancingWeight: 0,
                hostIdentifier: {
                  case: "endpoint",
                  value: {
                    address: {
                      address: {
                        case: "socketAddress",
                        value: { address: "", portSpecifier: { case: "portValue", value: 70_000 } },
                      },
                    },
                  },
                },
              },
            ],
          },
        ],
      }),
    ).toEqual([
      "cluster_name: must not be empty",
      "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: must not be empty",
      "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: must be at most 65535, is 70000",
      "endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1, is 0",
      "endpoints[0].priority: must be at most 128, is 129",
    ]);
  });

  it("checks routes: virtual host name and domains, match and action, cluster choice, header names, direct response status", () => {
    const problems = check(RouteConfigurationSchema, {
      name: "r",
      virtualHosts: [
        {
          name: "",
          domains: [],
          routes: [
            { action: { case: "route", value: {} } },
            {
              match: { pathSpecifier: { case: "prefix", value: "/" } },
              action: { case: "directResponse", value: { status: 700 } },
            },
          ],
          requestHeadersToAdd: [{ header: { key: "bad\nheader", value: "x" } }],
        },
      ],
    });
    expect(problems).toEqual([
      "virtual_hosts[0].name: must not be empty",
      "virtual_hosts[0].domains: needs at least 1 item(s), has 0",
      "virtual_hosts[0].routes[0].match: is required",
      "virtual_hosts[0].routes[0].route.cluster_specifier: one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin is required",
      "virtual_hosts[0].routes[1].direct_response.status: must be less than 600, is 700",
      'virtual_hosts[0].request_headers_to_add[0].header.key: "bad\\nheader" is not a valid header name',
    ]);
  });

  it("looks inside Any: an HTTP connection manager needs a stat prefix and a route source", () => {
    const hcm = anyPack(HttpConnectionManagerSchema, create(HttpConnectionManagerSchema, { statPrefix: "" }));
    expect(
      check(ListenerSchema, {
        name: "l",
        filterChains: [{ filters: [{ name: "hcm", configType: { case: "typedConfig", value: hcm } }] }],
      }),
    ).toEqual([
      "filter_chains[0].filters[0].typed_config.route_specifier: one of rds, route_config, scoped_routes is required",
      "filter_chains[0].filters[0].typed_config.stat_prefix: must not be empty",
    ]);
  });

  it("refuses a domain claimed by two virtual hosts of one route configuration", () => {
    const twice = encodeResource(RouteConfigurationSchema, {
      name: "r",
      virtualHosts: ["a", "b"].map((name) => ({
        name,
        domains: [name === "a" ? "api.example.com" : "API.example.com"],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix" as const, value: "/" } },
            action: { case: "route" as const, value: { clusterSpecifier: { case: "cluster" as const, value: "c" } } },
          },
        ],
      })),
    });
    expect(new ResourceValidator().problems([twice])).toEqual([
      'route configuration "r": virtual_hosts[1].domains[0]: "API.example.com" is already a domain of virtual host "a"',
    ]);
  });

  it("makes the cache refuse a snapshot a client would NACK, naming resource and field", () => {
    const cache = new SnapshotCache();
    const bad = rawResource(
      TypeUrl.endpoint,
      "svc-cluster",
      encodeResource(ClusterLoadAssignmentSchema, { clusterName: "" }, "x").value,
    );
    const resources = service("svc", 8080).map((r) => (r.typeUrl === TypeUrl.endpoint ? bad : r));
    expect(() => cache.setSnapshot("g", resources)).toThrow(SnapshotError);
    expect(() => cache.setSnapshot("g", resources)).toThrow('endpoints "svc-cluster": cluster_name: must not be empty');
    expect(cache.snapshot("g")).toBeUndefined();
    // Turned off, the same snapshot is accepted (its consistency still holds).
    new SnapshotCache({ validator: false }).setSnapshot("g", resources);
  });
});
