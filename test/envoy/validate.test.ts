import {
  create,
  createFileRegistry,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  setExtension,
} from "@bufbuild/protobuf";
import {
  anyPack,
  DurationSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  StructSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { duplicateDomains, envoyRegistry, validateMessage } from "../../src/envoy/index.js";
import {
  type Cluster_DiscoveryType,
  type Cluster_LbPolicy,
  ClusterSchema,
} from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { UpstreamHttpProtocolOptionsSchema } from "../../src/gen/envoy/config/core/v3/protocol_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteSchema, VirtualHostSchema } from "../../src/gen/envoy/config/route/v3/route_components_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { FieldRulesSchema, rules } from "../../src/gen/validate/validate_pb.js";
import { service } from "../xds/fixtures.js";

const goodRoute = {
  name: "r",
  match: { pathSpecifier: { case: "prefix" as const, value: "/" } },
  action: { case: "route" as const, value: { clusterSpecifier: { case: "cluster" as const, value: "c" } } },
};

const check = <S extends DescMessage>(schema: S, init: MessageInitShape<S>) =>
  validateMessage(schema, create(schema, init));

/**
 * A message `test.Holder` with one field `val` of the given type under the given rules: for rule
 * classes no Envoy field Gantry sends uses (IP addresses, bytes, Any not_in, Duration const).
 */
function holder(
  type: FieldDescriptorProto_Type,
  fieldRules: MessageInitShape<typeof FieldRulesSchema>,
  typeName?: string,
): DescMessage {
  const options = create(FieldOptionsSchema);
  setExtension(options, rules, create(FieldRulesSchema, fieldRules));
  const file = create(FileDescriptorProtoSchema, {
    name: "test/holder.proto",
    package: "test",
    syntax: "proto3",
    dependency: ["google/protobuf/any.proto", "google/protobuf/duration.proto"],
    messageType: [
      {
        name: "Holder",
        field: [
          {
            name: "val",
            jsonName: "val",
            number: 1,
            label: FieldDescriptorProto_Label.OPTIONAL,
            type,
            ...(typeName ? { typeName } : {}),
            options,
          },
        ],
      },
    ],
  });
  const deps = new Map([
    ["google/protobuf/any.proto", file_google_protobuf_any],
    ["google/protobuf/duration.proto", file_google_protobuf_duration],
  ]);
  const desc = createFileRegistry(file, (name) => deps.get(name)).getMessage("test.Holder");
  if (!desc) throw new Error("no test.Holder");
  return desc;
}

describe("validateMessage: Envoy's (validate.rules)", () => {
  it("accepts the resources a real client accepts", () => {
    for (const resource of service("svc", 8080)) {
      const schema = envoyRegistry.getMessage(resource.typeUrl.slice(resource.typeUrl.lastIndexOf("/") + 1));
      if (!schema) throw new Error(`no schema for ${resource.typeUrl}`);
      expect(validateMessage(schema, fromBinary(schema, resource.value)), resource.name).toEqual([]);
    }
    expect(check(RouteSchema, goodRoute)).toEqual([]);
    // Optional header fields with loose rules (cluster_header) default to "" and are fine so.
    const split = {
      ...goodRoute,
      action: {
        case: "route" as const,
        value: {
          clusterSpecifier: {
            case: "weightedClusters" as const,
            value: {
              clusters: [
                { name: "a", weight: 80 },
                { name: "b", weight: 20 },
              ],
            },
          },
        },
      },
    };
    expect(check(RouteSchema, split)).toEqual([]);
  });

  it("required oneof: a route needs an action, a route action a cluster choice", () => {
    expect(check(RouteSchema, { ...goodRoute, action: { case: undefined } })).toEqual([
      { path: "action", message: expect.stringMatching(/^one of route, redirect, direct_response.* is required$/) },
    ]);
    expect(check(RouteSchema, { ...goodRoute, action: { case: "route", value: {} } })).toEqual([
      {
        path: "route.cluster_specifier",
        message:
          "one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin is required",
      },
    ]);
  });

  it("required message: a route needs a match", () => {
    expect(check(RouteSchema, { name: "r", action: goodRoute.action })).toContainEqual({
      path: "match",
      message: "is required",
    });
  });

  it("string min length: names of clusters, endpoints, virtual hosts, a route's cluster, an address", () => {
    expect(check(ClusterSchema, { name: "" })).toContainEqual({ path: "name", message: "must not be empty" });
    expect(
      check(RouteSchema, {
        ...goodRoute,
        action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "" } } },
      }),
    ).toEqual([{ path: "route.cluster", message: "must not be empty" }]);
    expect(check(VirtualHostSchema, { name: "", domains: ["a"] })).toEqual([
      { path: "name", message: "must not be empty" },
    ]);
    expect(
      check(ClusterLoadAssignmentSchema, {
        clusterName: "",
        endpoints: [
          {
            lbEndpoints: [
              {
                hostIdentifier: {
                  case: "endpoint",
                  value: {
                    address: {
                      address: {
                        case: "socketAddress",
                        value: { address: "", portSpecifier: { case: "portValue", value: 80 } },
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
      { path: "cluster_name", message: "must not be empty" },
      { path: "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address", message: "must not be empty" },
    ]);
  });

  it("repeated min items: weighted clusters and virtual host domains", () => {
    expect(
      check(RouteSchema, {
        ...goodRoute,
        action: { case: "route", value: { clusterSpecifier: { case: "weightedClusters", value: { clusters: [] } } } },
      }),
    ).toEqual([{ path: "route.weighted_clusters.clusters", message: "needs at least 1 item(s), has 0" }]);
    expect(check(VirtualHostSchema, { name: "v", domains: [] })).toEqual([
      { path: "domains", message: "needs at least 1 item(s), has 0" },
    ]);
  });

  it("repeated max items: at most 1000 headers to add", () => {
    const headers = Array.from({ length: 1001 }, (_, i) => ({ header: { key: `h${i}`, value: "v" } }));
    expect(check(RouteSchema, { ...goodRoute, requestHeadersToAdd: headers })).toEqual([
      { path: "request_headers_to_add", message: "allows at most 1000 items, has 1001" },
    ]);
  });

  it("numeric ranges, also through wrapper types: priority <= 128, weights >= 1, port <= 65535", () => {
    const cla = {
      clusterName: "c",
      endpoints: [
        {
          priority: 129,
          lbEndpoints: [
            {
              loadBalancingWeight: 0,
              hostIdentifier: {
                case: "endpoint" as const,
                value: {
                  address: {
                    address: {
                      case: "socketAddress" as const,
                      value: { address: "10.0.0.1", portSpecifier: { case: "portValue" as const, value: 70000 } },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    };
    expect(check(ClusterLoadAssignmentSchema, cla)).toEqual([
      {
        path: "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
        message: "must be <= 65535, got 70000",
      },
      { path: "endpoints[0].lb_endpoints[0].load_balancing_weight", message: "must be >= 1, got 0" },
      { path: "endpoints[0].priority", message: "must be <= 128, got 129" },
    ]);
  });

  it("direct response status must be in [200, 600)", () => {
    for (const status of [600, 700]) {
      expect(check(RouteSchema, { ...goodRoute, action: { case: "directResponse", value: { status } } })).toEqual([
        { path: "direct_response.status", message: `must be < 600, got ${status}` },
      ]);
    }
  });

  it("enums: defined values only", () => {
    const cluster = {
      name: "c",
      connectTimeout: { seconds: 1n },
      clusterDiscoveryType: { case: "type" as const, value: 42 as Cluster_DiscoveryType },
      lbPolicy: 42 as Cluster_LbPolicy,
    };
    expect(check(ClusterSchema, cluster)).toEqual([
      { path: "type", message: "42 is not a defined DiscoveryType value" },
      { path: "lb_policy", message: "42 is not a defined LbPolicy value" },
    ]);
  });

  it("durations: connect_timeout must be > 0", () => {
    expect(check(ClusterSchema, { name: "c", connectTimeout: { seconds: 0n, nanos: 0 } })).toEqual([
      { path: "connect_timeout", message: "must be longer than 0 ms, got 0 ms" },
    ]);
  });

  it("header names and values: the well-known regexes, strict and loose", () => {
    const violations = check(RouteSchema, {
      ...goodRoute,
      requestHeadersToRemove: ["bad\rheader"],
      requestHeadersToAdd: [{ header: { key: "bad\nheader", value: "x" } }],
      match: {
        pathSpecifier: { case: "prefix", value: "/" },
        headers: [{ name: "x\nbad", headerMatchSpecifier: { case: "presentMatch", value: true } }],
      },
    });
    expect(violations).toContainEqual({
      path: "match.headers[0].name",
      message: 'must be a valid HTTP header name, got "x\\nbad"',
    });
    expect(violations).toContainEqual({
      path: "request_headers_to_remove[0]",
      message: 'must be a valid HTTP header name, got "bad\\rheader"',
    });
    expect(violations).toContainEqual({
      path: "request_headers_to_add[0].header.key",
      message: 'must be a valid HTTP header name, got "bad\\nheader"',
    });
  });

  it("looks inside google.protobuf.Any: an HCM in a listener needs a stat_prefix and a route source", () => {
    const hcm = anyPack(HttpConnectionManagerSchema, create(HttpConnectionManagerSchema, { statPrefix: "" }));
    const where =
      "filter_chains[0].filters[0].typed_config<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>";
    expect(
      check(ListenerSchema, {
        name: "l",
        filterChains: [{ filters: [{ name: "hcm", configType: { case: "typedConfig", value: hcm } }] }],
      }),
    ).toEqual([
      { path: `${where}.route_specifier`, message: "one of rds, route_config, scoped_routes is required" },
      { path: `${where}.stat_prefix`, message: "must not be empty" },
    ]);
  });

  it("an Any whose bytes do not decode is a violation", () => {
    const junk = {
      typeUrl: `type.googleapis.com/${HttpConnectionManagerSchema.typeName}`,
      value: new Uint8Array([0xff]),
    };
    const violations = check(ListenerSchema, {
      name: "l",
      filterChains: [{ filters: [{ name: "hcm", configType: { case: "typedConfig", value: junk } }] }],
    });
    expect(violations).toEqual([
      {
        path: `filter_chains[0].filters[0].typed_config<${HttpConnectionManagerSchema.typeName}>`,
        message: expect.stringMatching(/^cannot decode envoy\..*HttpConnectionManager: /),
      },
    ]);
  });

  it("skips the rules of fields whose upstream rule has ignore_empty when they are empty", () => {
    expect(check(UpstreamHttpProtocolOptionsSchema, { overrideAutoSniHeader: "" })).toEqual([]);
    expect(check(UpstreamHttpProtocolOptionsSchema, { overrideAutoSniHeader: "bad header" })).toEqual([
      { path: "override_auto_sni_header", message: 'must be a valid HTTP header name, got "bad header"' },
    ]);
  });

  it("string well-knowns: IP addresses and host names", () => {
    const cases = [
      [{ ip: true }, "10.0.0.1", "not an ip", "must be an IP address"],
      [{ ipv4: true }, "10.0.0.1", "::1", "must be an IPv4 address"],
      [{ ipv6: true }, "::1", "10.0.0.1", "must be an IPv6 address"],
      [{ hostname: true }, "api.example.com", "-bad-.example", "must be a host name"],
      [{ address: true }, "api.example.com", "bad host", "must be an IP address or a host name"],
    ] as const;
    for (const [known, good, bad, message] of cases) {
      const [name, value] = Object.entries(known)[0] ?? [];
      const schema = holder(FieldDescriptorProto_Type.STRING, {
        type: { case: "string", value: { wellKnown: { case: name as "ip", value: value as boolean } } },
      });
      expect(validateMessage(schema, create(schema, { val: good }))).toEqual([]);
      expect(validateMessage(schema, create(schema, { val: bad }))).toEqual([
        { path: "val", message: `${message}, got ${JSON.stringify(bad)}` },
      ]);
    }
  });

  it("bytes lengths", () => {
    const schema = holder(FieldDescriptorProto_Type.BYTES, {
      type: { case: "bytes", value: { minLen: 2n, maxLen: 3n } },
    });
    expect(validateMessage(schema, create(schema, { val: new Uint8Array(2) }))).toEqual([]);
    expect(validateMessage(schema, create(schema, { val: new Uint8Array(1) }))).toEqual([
      { path: "val", message: "must be at least 2 bytes, got 1" },
    ]);
    expect(validateMessage(schema, create(schema, { val: new Uint8Array(4) }))).toEqual([
      { path: "val", message: "must be at most 3 bytes, got 4" },
    ]);
  });

  it("Any type lists (in, not_in) and Duration const", () => {
    const structUrl = `type.googleapis.com/${StructSchema.typeName}`;
    const notIn = holder(
      FieldDescriptorProto_Type.MESSAGE,
      { type: { case: "any", value: { notIn: [structUrl] } } },
      ".google.protobuf.Any",
    );
    const struct = anyPack(StructSchema, create(StructSchema));
    expect(validateMessage(notIn, create(notIn, { val: struct }))).toEqual([
      { path: "val", message: `type ${structUrl} is not allowed` },
    ]);
    const inList = holder(
      FieldDescriptorProto_Type.MESSAGE,
      { type: { case: "any", value: { in: ["type.googleapis.com/x.Y"] } } },
      ".google.protobuf.Any",
    );
    expect(validateMessage(inList, create(inList, { val: struct }))).toEqual([
      { path: "val", message: `type ${structUrl} is not one of type.googleapis.com/x.Y` },
    ]);
    const exact = holder(
      FieldDescriptorProto_Type.MESSAGE,
      { type: { case: "duration", value: { const: { seconds: 3n } } } },
      ".google.protobuf.Duration",
    );
    expect(validateMessage(exact, create(exact, { val: create(DurationSchema, { seconds: 3n }) }))).toEqual([]);
    expect(validateMessage(exact, create(exact, { val: create(DurationSchema, { seconds: 2n }) }))).toEqual([
      { path: "val", message: "must be exactly 3000 ms, got 2000 ms" },
    ]);
  });

  it("checks a whole route configuration through its virtual hosts and routes", () => {
    expect(
      check(RouteConfigurationSchema, {
        name: "r",
        virtualHosts: [{ name: "", domains: [], routes: [{ action: { case: "route", value: {} } }] }],
      }).map((v) => v.path),
    ).toEqual([
      "virtual_hosts[0].name",
      "virtual_hosts[0].domains",
      "virtual_hosts[0].routes[0].match",
      "virtual_hosts[0].routes[0].route.cluster_specifier",
    ]);
  });
});

describe("duplicateDomains: Envoy's rule beyond (validate.rules)", () => {
  it("finds a domain claimed by two virtual hosts of one route configuration, ignoring case", () => {
    expect(
      duplicateDomains([
        { name: "a", domains: ["a.example.com", "Shared.example.com"] },
        { name: "b", domains: ["shared.example.com"] },
      ]),
    ).toEqual([{ vhost: "b", message: 'domain "shared.example.com" is also in virtual host a' }]);
  });
});
