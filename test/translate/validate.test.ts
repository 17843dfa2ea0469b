import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { Cluster_DiscoveryType, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteSchema, VirtualHostSchema } from "../../src/gen/envoy/config/route/v3/route_components_pb.js";
import { HttpConnectionManagerSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { duplicateDomains } from "../../src/translate/process/routes.js";
import { validateMessage } from "../../src/translate/validate.js";

const goodRoute = {
  name: "r",
  match: { pathSpecifier: { case: "prefix" as const, value: "/" } },
  action: { case: "route" as const, value: { clusterSpecifier: { case: "cluster" as const, value: "c" } } },
};

describe("validateMessage: Envoy's (validate.rules)", () => {
  it("accepts a valid route", () => {
    expect(validateMessage(RouteSchema, create(RouteSchema, goodRoute))).toEqual([]);
  });

  it("required oneof: a route needs an action", () => {
    const route = create(RouteSchema, { ...goodRoute, action: { case: undefined } });
    expect(validateMessage(RouteSchema, route)).toEqual([
      { path: "action", message: expect.stringMatching(/^one of route, redirect, direct_response.* is required$/) },
    ]);
  });

  it("required message: a route needs a match", () => {
    const route = create(RouteSchema, { name: "r", action: goodRoute.action });
    expect(validateMessage(RouteSchema, route)).toContainEqual({ path: "match", message: "is required" });
  });

  it("string min length: a cluster needs a name; a route's cluster too", () => {
    expect(validateMessage(ClusterSchema, create(ClusterSchema, { name: "" }))).toContainEqual({
      path: "name",
      message: "must not be empty",
    });
    const route = create(RouteSchema, {
      ...goodRoute,
      action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "" } } },
    });
    expect(validateMessage(RouteSchema, route)).toEqual([{ path: "route.cluster", message: "must not be empty" }]);
  });

  it("repeated min items: weighted clusters and virtual host domains", () => {
    const route = create(RouteSchema, {
      ...goodRoute,
      action: { case: "route", value: { clusterSpecifier: { case: "weightedClusters", value: { clusters: [] } } } },
    });
    expect(validateMessage(RouteSchema, route)).toEqual([
      { path: "route.weighted_clusters.clusters", message: "needs at least 1 item(s), has 0" },
    ]);
    const vhost = create(VirtualHostSchema, { name: "v", domains: [] });
    expect(validateMessage(VirtualHostSchema, vhost)).toEqual([
      { path: "domains", message: "needs at least 1 item(s), has 0" },
    ]);
  });

  it("numeric ranges, also through wrapper types: priority <= 128, weights >= 1, port <= 65535", () => {
    const cla = create(ClusterLoadAssignmentSchema, {
      clusterName: "c",
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
                      value: { address: "10.0.0.1", portSpecifier: { case: "portValue", value: 70000 } },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    });
    expect(validateMessage(ClusterLoadAssignmentSchema, cla)).toEqual([
      {
        path: "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
        message: "must be <= 65535, got 70000",
      },
      { path: "endpoints[0].lb_endpoints[0].load_balancing_weight", message: "must be >= 1, got 0" },
      { path: "endpoints[0].priority", message: "must be <= 128, got 129" },
    ]);
  });

  it("direct response status must be in [200, 600)", () => {
    const route = create(RouteSchema, { ...goodRoute, action: { case: "directResponse", value: { status: 600 } } });
    expect(validateMessage(RouteSchema, route)).toEqual([
      { path: "direct_response.status", message: "must be < 600, got 600" },
    ]);
  });

  it("enum defined values only", () => {
    const cluster = create(ClusterSchema, {
      name: "c",
      connectTimeout: { seconds: 1n },
      clusterDiscoveryType: { case: "type", value: 42 as Cluster_DiscoveryType },
    });
    expect(validateMessage(ClusterSchema, cluster)).toEqual([
      { path: "type", message: "42 is not a defined DiscoveryType value" },
    ]);
    expect(Cluster_DiscoveryType.EDS).toBe(3);
  });

  it("durations: connect_timeout must be > 0", () => {
    const cluster = create(ClusterSchema, { name: "c", connectTimeout: { seconds: 0n, nanos: 0 } });
    expect(validateMessage(ClusterSchema, cluster)).toEqual([
      { path: "connect_timeout", message: "must be longer than 0 ms, got 0 ms" },
    ]);
  });

  it("header names: the well-known HTTP header name regex", () => {
    const route = create(RouteSchema, {
      ...goodRoute,
      requestHeadersToRemove: ["bad\rheader"],
      match: {
        pathSpecifier: { case: "prefix", value: "/" },
        headers: [{ name: "x\nbad", headerMatchSpecifier: { case: "presentMatch", value: true } }],
      },
    });
    const violations = validateMessage(RouteSchema, route);
    expect(violations).toContainEqual({
      path: "match.headers[0].name",
      message: 'must be a valid HTTP header name, got "x\\nbad"',
    });
    expect(violations).toContainEqual({
      path: "request_headers_to_remove[0]",
      message: 'must be a valid HTTP header name, got "bad\\rheader"',
    });
  });

  it("repeated max items: at most 1000 headers to add", () => {
    const headers = Array.from({ length: 1001 }, (_, i) => ({ header: { key: `h${i}`, value: "v" } }));
    const route = create(RouteSchema, { ...goodRoute, requestHeadersToAdd: headers });
    expect(validateMessage(RouteSchema, route)).toEqual([
      { path: "request_headers_to_add", message: "allows at most 1000 items, has 1001" },
    ]);
  });

  it("looks inside google.protobuf.Any: an HCM in a listener needs a stat_prefix and a route source", () => {
    const hcm = create(HttpConnectionManagerSchema, { statPrefix: "" });
    const listener = create(ListenerSchema, {
      name: "l",
      filterChains: [
        {
          filters: [
            { name: "hcm", configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) } },
          ],
        },
      ],
    });
    const where =
      "filter_chains[0].filters[0].typed_config<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>";
    expect(validateMessage(ListenerSchema, listener)).toEqual([
      { path: `${where}.route_specifier`, message: "one of rds, route_config, scoped_routes is required" },
      { path: `${where}.stat_prefix`, message: "must not be empty" },
    ]);
  });

  it("duplicate domains across the virtual hosts of a route configuration", () => {
    expect(
      duplicateDomains([
        { name: "a", domains: ["a.example.com", "Shared.example.com"] },
        { name: "b", domains: ["shared.example.com"] },
      ]),
    ).toEqual([{ vhost: "b", message: 'domain "shared.example.com" is also in virtual host a' }]);
  });
});
