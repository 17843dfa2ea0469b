// East-west gateways (docs/multicluster-routing.md#east-west-gateways): the EAST_WEST listener
// (SNI passthrough to local clusters), and Envoy callers of a VirtualDestination reaching other
// clusters through their gateways while proxyless gRPC callers reach them directly.

import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { envoyRegistry, TypeUrl } from "../../src/envoy/index.js";
import { type Cluster, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { TransportSocketSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { HealthStatus } from "../../src/gen/envoy/config/core/v3/health_check_pb.js";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { type Listener, ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { TcpProxySchema } from "../../src/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import { SubjectAltNameMatcher_SanType } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import { UpstreamTlsContextSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { clusterNameRule, parseResources } from "../../src/resources/index.js";
import { check } from "../../src/translate/check.js";
import { eastWestTransportSocket } from "../../src/translate/envoy/east-west.js";
import { eastWestSni, type ProxyGroup, State, type Translation, translate } from "../../src/translate/index.js";
import { resources } from "./fixtures.js";

const cluster = "virtual:mc/svc:8080";
const sni = "outbound_.8080_.svc_.mc.vd.gantry";

const callers = (kind: "ENVOY" | "GRPC_PROXYLESS", placement = "[east, west]") => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: callers, namespace: mc, clusters: ${placement} }
spec:
  kind: ${kind}
  proxies: { labels: { app: caller } }
  ${kind === "ENVOY" ? "listeners: [{ name: out, port: 15001 }]" : ""}
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: svc, namespace: mc }
spec:
  hosts: [svc.global]
  gateways: [{ name: callers }]
  http: [{ name: all, forwardTo: { destinations: [{ virtualDestination: { name: svc } }] } }]
---
apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: svc, namespace: mc }
spec:
  ports: [{ number: 8080, protocol: HTTP2 }]
  destinationSelector: { labels: { app: svc } }
---
`;

const eastWestGateway = (name: string, placement: string, addresses: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: ${name}, namespace: infra, clusters: ${placement} }
spec:
  proxies: { labels: { app: ${name} } }
  listeners: [{ name: tls, port: 15443, protocol: EAST_WEST, externalAddresses: ${addresses} }]
---
`;

const member = (name: string, placement: string, endpoints: string) => `apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name}, namespace: mc, labels: { app: svc }, clusters: [${placement}] }
spec:
  ports: [{ number: 8080, protocol: HTTP2, targetPort: 9080 }]
  endpoints: [${endpoints}]
---
`;

const members =
  member("svc-east", "east", "{ address: 10.0.1.1 }, { address: 10.0.1.2 }") +
  member("svc-west", "west", "{ address: 10.0.2.1 }") +
  member("svc-south", "south", "{ address: 10.0.3.1 }");

const gateways =
  eastWestGateway("ew-east", "[east]", "[{ address: 198.51.100.1 }]") +
  eastWestGateway("ew-west", "[west]", "[{ address: 198.51.100.2, port: 443 }, { address: 198.51.100.3 }]");

function group(translation: Translation, name: string): ProxyGroup {
  const found = translation.groups.find((g) => g.name === name);
  if (!found) throw new Error(`no group ${name}`);
  expect(found.rejected).toBeUndefined();
  return found;
}

function resourceOf(g: ProxyGroup, typeUrl: string, name: string, caller?: string) {
  const particular = caller === undefined ? undefined : g.byCallerCluster?.get(caller);
  const found =
    particular?.find((r) => r.typeUrl === typeUrl && r.name === name) ??
    g.resources.find((r) => r.typeUrl === typeUrl && r.name === name);
  if (!found) throw new Error(`no ${typeUrl} ${name} in ${g.name}`);
  return found;
}

function endpoints(g: ProxyGroup, caller?: string): ClusterLoadAssignment {
  return fromBinary(ClusterLoadAssignmentSchema, resourceOf(g, TypeUrl.endpoint, cluster, caller).value);
}

/** Per priority: each endpoint as `address:port`, with `+tls` when it is marked as an east-west gateway. */
function priorities(assignment: ClusterLoadAssignment): string[][] {
  const out: string[][] = [];
  for (const locality of assignment.endpoints) {
    const list = locality.lbEndpoints.map((e) => {
      const socket =
        e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress"
          ? e.hostIdentifier.value.address.address.value
          : undefined;
      const port = socket?.portSpecifier.case === "portValue" ? socket.portSpecifier.value : 0;
      const tls = e.metadata?.filterMetadata["envoy.transport_socket_match"] ? "+tls" : "";
      return `${locality.locality?.region}:${socket?.address}:${port}${tls}`;
    });
    out[locality.priority] = [...(out[locality.priority] ?? []), ...list];
  }
  return out;
}

describe("east-west gateways", () => {
  it("names a VirtualDestination port's SNI so that dotted names stay apart", () => {
    expect(eastWestSni("mc/svc", 8080)).toBe(sni);
    expect(eastWestSni("a/b.c", 1)).not.toBe(eastWestSni("a.b/c", 1));
  });

  it("an EAST_WEST listener passes TLS by SNI, unterminated, to its own cluster's endpoints", () => {
    const t = translate(resources(callers("ENVOY") + gateways + members));
    const east = group(t, "infra/ew-east");
    const listener: Listener = fromBinary(
      ListenerSchema,
      resourceOf(east, TypeUrl.listener, "infra/ew-east/tls").value,
    );
    expect(listener.listenerFilters.map((f) => f.name)).toEqual(["envoy.filters.listener.tls_inspector"]);
    expect(listener.filterChains).toHaveLength(1);
    const chain = listener.filterChains[0];
    expect(chain?.filterChainMatch?.serverNames).toEqual([sni]);
    expect(chain?.transportSocket).toBeUndefined();
    const typed = chain?.filters[0]?.configType;
    const proxy = typed?.case === "typedConfig" ? anyUnpack(typed.value, TcpProxySchema) : undefined;
    expect(proxy?.clusterSpecifier).toEqual({ case: "cluster", value: "eastwest:east:mc/svc:8080" });
    // The local cluster holds east's endpoints only, on their target port, and is plain TCP.
    const local: Cluster = fromBinary(
      ClusterSchema,
      resourceOf(east, TypeUrl.cluster, "eastwest:east:mc/svc:8080").value,
    );
    expect(local.transportSocket).toBeUndefined();
    expect(Object.keys(local.typedExtensionProtocolOptions)).toEqual([]);
    const assignment = fromBinary(
      ClusterLoadAssignmentSchema,
      resourceOf(east, TypeUrl.endpoint, "eastwest:east:mc/svc:8080").value,
    );
    expect(priorities(assignment)).toEqual([[":10.0.1.1:9080", ":10.0.1.2:9080"]]);
    // West's gateway forwards the same SNI to west's endpoints, in a cluster of its own name.
    const west = group(t, "infra/ew-west");
    const westLocal = fromBinary(
      ClusterLoadAssignmentSchema,
      resourceOf(west, TypeUrl.endpoint, "eastwest:west:mc/svc:8080").value,
    );
    expect(priorities(westLocal)).toEqual([[":10.0.2.1:9080"]]);
    // Made from the VirtualDestination, which `describe` shows it in.
    expect([...east.origins].sort()).toEqual(["Gateway/infra/ew-east", "VirtualDestination/mc/svc"]);
    // No route configuration: the listener has no routes.
    expect(east.resources.filter((r) => r.typeUrl === TypeUrl.route)).toEqual([]);
  });

  it("Envoy callers reach their own cluster directly and the others through their gateways", () => {
    const t = translate(resources(callers("ENVOY") + gateways + members));
    const g = group(t, "mc/callers");
    expect(priorities(endpoints(g, "east"))).toEqual([
      ["east:10.0.1.1:9080", "east:10.0.1.2:9080"],
      ["west:198.51.100.2:443+tls", "west:198.51.100.3:15443+tls"],
    ]);
    expect(priorities(endpoints(g, "west"))).toEqual([["west:10.0.2.1:9080"], ["east:198.51.100.1:15443+tls"]]);
    // Callers in no member cluster reach every cluster through its gateway.
    expect(priorities(endpoints(g))).toEqual([
      ["east:198.51.100.1:15443+tls"],
      ["west:198.51.100.2:443+tls", "west:198.51.100.3:15443+tls"],
    ]);
  });

  it("the cluster originates mTLS with the SNI to gateway endpoints, with SDS default and ROOTCA", () => {
    const t = translate(resources(callers("ENVOY") + gateways + members));
    const built: Cluster = fromBinary(
      ClusterSchema,
      resourceOf(group(t, "mc/callers"), TypeUrl.cluster, cluster).value,
    );
    expect(built.transportSocket).toBeUndefined();
    expect(built.transportSocketMatches).toHaveLength(1);
    const match = built.transportSocketMatches[0];
    expect(match?.match).toEqual({ "gantry.io/via": "east-west-gateway" });
    const typed = match?.transportSocket?.configType;
    const tls = typed?.case === "typedConfig" ? anyUnpack(typed.value, UpstreamTlsContextSchema) : undefined;
    expect(tls?.sni).toBe(sni);
    expect(tls?.commonTlsContext?.tlsCertificateSdsSecretConfigs.map((s) => s.name)).toEqual(["default"]);
    const validation = tls?.commonTlsContext?.validationContextType;
    expect(validation?.case).toBe("validationContextSdsSecretConfig");
    expect(validation?.case === "validationContextSdsSecretConfig" ? validation.value.name : "").toBe("ROOTCA");
    expect(envoyRegistry.getMessage("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")).toBeDefined();
  });

  it("checks the peer's SPIFFE IDs against the trust bundle when the TLS mode names them", () => {
    const id = "spiffe://gantry.local/ns/mc/sa/svc";
    const socket = create(
      TransportSocketSchema,
      eastWestTransportSocket(sni, { mode: "MUTUAL", subjectAltNames: [id] }),
    );
    expect(check(TransportSocketSchema, socket)).toEqual([]);
    const tls =
      socket.configType.case === "typedConfig"
        ? anyUnpack(socket.configType.value, UpstreamTlsContextSchema)
        : undefined;
    const validation = tls?.commonTlsContext?.validationContextType;
    if (validation?.case !== "combinedValidationContext") throw new Error(`got ${validation?.case}`);
    expect(validation.value.validationContextSdsSecretConfig?.name).toBe("ROOTCA");
    expect(
      validation.value.defaultValidationContext?.matchTypedSubjectAltNames.map((m) => [
        m.sanType,
        m.matcher?.matchPattern.value,
      ]),
    ).toEqual([[SubjectAltNameMatcher_SanType.URI, id]]);
  });

  it("a cluster without an east-west gateway is left out for Envoy callers elsewhere, with a warning", () => {
    const t = translate(resources(callers("ENVOY") + gateways + members));
    expect(
      priorities(endpoints(group(t, "mc/callers"), "east"))
        .flat()
        .some((e) => e.startsWith("south")),
    ).toBe(false);
    const status = t.statuses.get("VirtualDestination/mc/svc");
    expect(status?.state).toBe(State.WARNING);
    expect(status?.messages).toContain(
      "cluster south has no east-west gateway (a Gateway placed in it with an EAST_WEST listener): Envoy callers of Gateway mc/callers outside south are not given its endpoints",
    );
  });

  it("an Envoy gateway placed only in the cluster without a gateway is not warned about it", () => {
    const t = translate(resources(callers("ENVOY", "[south]") + gateways + members));
    expect(t.statuses.get("VirtualDestination/mc/svc")?.state).toBe(State.ACCEPTED);
    expect(priorities(endpoints(group(t, "mc/callers"), "south"))).toEqual([
      ["south:10.0.3.1:9080"],
      ["east:198.51.100.1:15443+tls"],
      ["west:198.51.100.2:443+tls", "west:198.51.100.3:15443+tls"],
    ]);
  });

  it("a remote cluster whose endpoints are all unusable is an UNHEALTHY gateway, so callers move on", () => {
    const sick = member("svc-west", "west", "{ address: 10.0.2.1, health: UNHEALTHY }");
    const text = callers("ENVOY") + gateways + member("svc-east", "east", "{ address: 10.0.1.1 }") + sick;
    const assignment = endpoints(group(translate(resources(text)), "mc/callers"), "east");
    const remote = assignment.endpoints.find((l) => l.locality?.region === "west");
    expect(remote?.lbEndpoints.map((e) => e.healthStatus)).toEqual([HealthStatus.UNHEALTHY, HealthStatus.UNHEALTHY]);
  });

  it("proxyless gRPC callers keep every cluster's endpoints directly, and no socket match", () => {
    const t = translate(resources(callers("GRPC_PROXYLESS") + gateways + members));
    const g = group(t, "mc/callers");
    expect(priorities(endpoints(g, "east"))).toEqual([
      ["east:10.0.1.1:9080", "east:10.0.1.2:9080"],
      ["south:10.0.3.1:9080"],
      ["west:10.0.2.1:9080"],
    ]);
    const built: Cluster = fromBinary(ClusterSchema, resourceOf(g, TypeUrl.cluster, cluster).value);
    expect(built.transportSocketMatches).toEqual([]);
    expect(t.statuses.get("VirtualDestination/mc/svc")?.state).toBe(State.ACCEPTED);
  });

  it("refuses an EAST_WEST listener that is not placed in one cluster, or lacks IP external addresses", () => {
    const bad = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: ew, namespace: infra }
spec:
  proxies: { labels: { app: ew } }
  listeners:
    - { port: 15443, protocol: EAST_WEST, externalAddresses: [{ address: gw.example.com }], tls: { secret: { name: x } } }
    - { port: 80, externalAddresses: [{ address: 10.0.0.1 }] }
`;
    const t = translate(resources(bad));
    expect(t.statuses.get("Gateway/infra/ew")).toEqual({
      state: State.INVALID,
      messages: [
        "spec.listeners[0].protocol: EAST_WEST serves the endpoints of the one cluster its gateway runs in; place the gateway in exactly one cluster (metadata.clusters), not every cluster",
        'spec.listeners[0].externalAddresses[0].address: "gw.example.com" is not an IP address (callers\' EDS does not resolve names)',
        "spec.listeners[0].tls: not for EAST_WEST (TLS passes through to the workloads)",
        "spec.listeners[1].externalAddresses: only for EAST_WEST listeners",
      ],
    });
    const none = translate(resources(eastWestGateway("ew", "[east]", "[]")));
    expect(none.statuses.get("Gateway/infra/ew")?.messages).toEqual([
      "spec.listeners[0].externalAddresses: at least one is required (where other clusters reach this listener)",
    ]);
  });

  it("an east-west gateway with nothing to pass through serves no listener (Envoy refuses one without chains)", () => {
    const t = translate(resources(gateways));
    expect(group(t, "infra/ew-east").resources).toEqual([]);
  });
});

describe("placement: metadata.clusters and the gantry.io/cluster label are one", () => {
  it("a Gateway's selector label places it, and is not a label proxies must carry", () => {
    const text = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: g, namespace: mc }
spec:
  proxies: { labels: { app: x, gantry.io/cluster: east } }
  listeners: [{ port: 8080 }]
`;
    const t = translate(resources(text));
    expect(t.groups[0]?.proxies).toEqual({ labels: { app: "x" }, nodeIds: [], clusters: ["east"] });
  });

  it("refuses a label that disagrees with metadata.clusters, naming both", () => {
    const text = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: g, namespace: mc, clusters: [west] }
spec:
  proxies: { labels: { gantry.io/cluster: east } }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: d, namespace: mc, clusters: [east], labels: { gantry.io/cluster: "East!" } }
spec:
  ports: [{ number: 80 }]
`;
    const loaded = parseResources(text, "placed.yaml");
    expect(loaded.resources).toEqual([]);
    expect(loaded.rejected.flatMap((r) => r.errors)).toEqual([
      "placed.yaml:5: Gateway mc/g: spec.proxies.labels.gantry.io/cluster: places the Gateway in east, but metadata.clusters says west; keep one (metadata.clusters)",
      `placed.yaml:9: Destination mc/d: metadata.labels.gantry.io/cluster: expected a cluster name, ${clusterNameRule}; got "East!"`,
    ]);
  });

  it("a Destination labelled gantry.io/cluster is a VirtualDestination member of that cluster", () => {
    const text =
      callers("GRPC_PROXYLESS") +
      `apiVersion: gantry/v1
kind: Destination
metadata: { name: svc-east, namespace: mc, labels: { app: svc, gantry.io/cluster: east } }
spec:
  ports: [{ number: 8080, protocol: HTTP2 }]
  endpoints: [{ address: 10.0.1.1 }]
`;
    const t = translate(resources(text));
    expect(priorities(endpoints(group(t, "mc/callers"), "east"))).toEqual([["east:10.0.1.1:8080"]]);
  });
});
