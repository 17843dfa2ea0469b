// Multi-cluster translation: placement (metadata.clusters), VirtualDestinations and FailoverPolicies,
// and the EDS each caller cluster gets (docs/multicluster-routing.md).
import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { type Cluster, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { HealthStatus } from "../../src/gen/envoy/config/core/v3/health_check_pb.js";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { clusterNameRule } from "../../src/resources/index.js";
import { State, type Translation, translate } from "../../src/translate/index.js";
import { resources } from "./fixtures.js";

const cluster = "virtual:mc/svc:50051";

const gateway = (placement = "[east, west]") => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh, namespace: mc, clusters: ${placement} }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: mc } }
---
`;

const routeTable = (placement = "[]", target = "virtualDestination: { name: svc }") => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: svc, namespace: mc, clusters: ${placement} }
spec:
  hosts: [svc.global]
  gateways: [{ name: mesh }]
  http: [{ name: all, forwardTo: { destinations: [{ ${target} }] } }]
---
`;

const virtualDestination = (extra = "") => `apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: svc, namespace: mc }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  destinationSelector: { labels: { app: svc } }${extra}
---
`;

const member = (name: string, placement: string, endpoints: string) => `apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name}, namespace: mc, labels: { app: svc }${placement ? `, clusters: [${placement}]` : ""} }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [${endpoints}]
---
`;

const members =
  member("svc-east", "east", "{ address: 10.0.1.1 }, { address: 10.0.1.2, health: UNHEALTHY }") +
  member("svc-west", "west", "{ address: 10.0.2.1 }") +
  member("svc-south", "south", "{ address: 10.0.3.1 }");

function world(text: string): Translation {
  return translate(resources(text));
}

function endpoints(translation: Translation, caller?: string): ClusterLoadAssignment {
  const group = translation.groups[0];
  const particular = caller === undefined ? undefined : group?.byCallerCluster?.get(caller);
  const resource = (particular ?? group?.resources)?.find((r) => r.typeUrl === TypeUrl.endpoint && r.name === cluster);
  if (!resource) throw new Error(`no endpoints for ${caller ?? "callers in no member cluster"}`);
  return fromBinary(ClusterLoadAssignmentSchema, resource.value);
}

/** Per priority, the localities' regions and their endpoints' addresses. */
function priorities(assignment: ClusterLoadAssignment): string[][] {
  const out: string[][] = [];
  for (const locality of assignment.endpoints) {
    const addresses = locality.lbEndpoints.map((e) =>
      e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress"
        ? e.hostIdentifier.value.address.address.value.address
        : "?",
    );
    out[locality.priority] = [
      ...(out[locality.priority] ?? []),
      `${locality.locality?.region}: ${addresses.join(" ")}`,
    ];
  }
  return out;
}

function status(translation: Translation, key: string) {
  const s = translation.statuses.get(key);
  return s ? { state: State[s.state], messages: s.messages } : undefined;
}

describe("VirtualDestination", () => {
  it("puts the caller's own cluster at priority 0 and the others after it, in name order by default", () => {
    const t = world(gateway() + routeTable() + virtualDestination() + members);
    expect(t.groups[0]?.rejected).toBeUndefined();
    expect(priorities(endpoints(t, "east"))).toEqual([
      ["east: 10.0.1.1 10.0.1.2"],
      ["south: 10.0.3.1"],
      ["west: 10.0.2.1"],
    ]);
    expect(priorities(endpoints(t, "west"))).toEqual([
      ["west: 10.0.2.1"],
      ["east: 10.0.1.1 10.0.1.2"],
      ["south: 10.0.3.1"],
    ]);
    // A caller in no member cluster (or none at all) gets the order itself; east leads it, so east
    // callers need nothing particular.
    expect(priorities(endpoints(t))).toEqual([["east: 10.0.1.1 10.0.1.2"], ["south: 10.0.3.1"], ["west: 10.0.2.1"]]);
    expect([...(t.groups[0]?.byCallerCluster?.keys() ?? [])]).toEqual(["south", "west"]);
  });

  it("keeps each endpoint's health, so gRPC and Envoy skip unhealthy ones and fail over when none is left", () => {
    const east = endpoints(world(gateway() + routeTable() + virtualDestination() + members), "east");
    expect(east.endpoints[0]?.lbEndpoints.map((e) => e.healthStatus)).toEqual([
      HealthStatus.UNKNOWN,
      HealthStatus.UNHEALTHY,
    ]);
  });

  it("follows a FailoverPolicy's order and thresholds, and sets outlier detection on the cluster", () => {
    const policy = `apiVersion: gantry/v1
kind: FailoverPolicy
metadata: { name: order, namespace: mc }
spec:
  clusterOrder: [west, east]
  overprovisioningFactor: 200
  outlierDetection: { consecutiveErrors: 2, interval: 1s, baseEjectionTime: 5s, maxEjectionPercent: 50 }
---
`;
    const t = world(
      gateway() + routeTable() + virtualDestination("\n  failoverPolicy: { name: order }") + members + policy,
    );
    expect(status(t, "FailoverPolicy/mc/order")).toEqual({ state: "ACCEPTED", messages: [] });
    expect(priorities(endpoints(t))).toEqual([["west: 10.0.2.1"], ["east: 10.0.1.1 10.0.1.2"], ["south: 10.0.3.1"]]);
    expect(priorities(endpoints(t, "south"))).toEqual([
      ["south: 10.0.3.1"],
      ["west: 10.0.2.1"],
      ["east: 10.0.1.1 10.0.1.2"],
    ]);
    expect(endpoints(t).policy?.overprovisioningFactor).toBe(200);
    const built = t.groups[0]?.resources.find((r) => r.typeUrl === TypeUrl.cluster && r.name === cluster);
    const envoyCluster: Cluster | undefined = built && fromBinary(ClusterSchema, built.value);
    expect(envoyCluster?.outlierDetection).toMatchObject({
      consecutive5xx: 2,
      interval: { seconds: 1n },
      baseEjectionTime: { seconds: 5n },
      maxEjectionPercent: 50,
    });
  });

  it("keeps priorities contiguous when a member cluster has no endpoints on the port", () => {
    const t = world(
      gateway() +
        routeTable() +
        virtualDestination() +
        member("svc-east", "east", "") +
        member("svc-west", "west", "{ address: 10.0.2.1 }"),
    );
    expect(priorities(endpoints(t, "east"))).toEqual([["west: 10.0.2.1"]]);
  });

  it("leaves out members placed in no cluster, with a warning naming the field", () => {
    const t = world(gateway() + routeTable() + virtualDestination() + member("svc-any", "", "{ address: 10.0.9.1 }"));
    expect(status(t, "VirtualDestination/mc/svc")).toEqual({
      state: "WARNING",
      messages: [
        "spec.destinationSelector: Destination mc/svc-any is placed in no cluster (metadata.clusters); left out",
        "no member Destination in any cluster; requests will fail",
      ],
    });
  });

  it("is INVALID with each problem named by field, and routes to it are refused", () => {
    const text = `apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: svc, namespace: mc }
spec:
  ports: [{ number: 50051, targetPort: 8080 }, { number: 50051 }]
  destinationSelector: { labels: {} }
  failoverPolicy: { name: absent }
---
`;
    const t = world(gateway() + routeTable() + text + members);
    expect(status(t, "VirtualDestination/mc/svc")).toEqual({
      state: "INVALID",
      messages: [
        "spec.ports[0].targetPort: not used; each member Destination has its own",
        "spec.ports[1].number: port 50051 is listed twice",
        "spec.destinationSelector.labels: required (an empty selector would take every Destination)",
        "spec.failoverPolicy: FailoverPolicy mc/absent not found or invalid",
      ],
    });
    expect(status(t, "RouteTable/mc/svc")?.messages.join("\n")).toContain(
      "spec.http[0].forwardTo.destinations[0].virtualDestination: VirtualDestination mc/svc not found or invalid",
    );
  });

  it("is INVALID when its members' endpoint weights in one cluster add up past a uint32, each member fitting alone", () => {
    // Each cluster is one EDS priority; clients sum its locality weights in a uint32 and NACK past it.
    const heavy = (name: string, placement: string, address: string) =>
      member(name, placement, `{ address: ${address}, weight: 3000000000 }`);
    const apart = world(
      gateway() +
        routeTable() +
        virtualDestination() +
        heavy("svc-east", "east", "10.0.1.1") +
        heavy("svc-west", "west", "10.0.2.1"),
    );
    expect(status(apart, "VirtualDestination/mc/svc")).toEqual({ state: "ACCEPTED", messages: [] });
    expect(endpoints(apart, "east").endpoints.map((l) => l.loadBalancingWeight)).toEqual([3000000000, 3000000000]);

    const together = world(
      gateway() +
        routeTable() +
        virtualDestination() +
        heavy("svc-east", "east", "10.0.1.1") +
        heavy("svc-east-2", "east", "10.0.1.2") +
        heavy("svc-west", "west", "10.0.2.1"),
    );
    expect(status(together, "Destination/mc/svc-east")?.state).toBe("ACCEPTED");
    expect(status(together, "VirtualDestination/mc/svc")).toEqual({
      state: "INVALID",
      messages: [
        "spec.ports[0]: the endpoint weights of the member Destinations in cluster east add up to 6000000000, above 4294967295 (2^32-1), the most Envoy and gRPC clients accept at one priority",
      ],
    });
    expect(status(together, "RouteTable/mc/svc")?.messages.join("\n")).toContain(
      "spec.http[0].forwardTo.destinations[0].virtualDestination: VirtualDestination mc/svc not found or invalid",
    );
    const names = together.groups.flatMap((g) => g.resources.map((r) => r.name));
    expect(names).not.toContain(cluster);
  });

  it("refuses a FailoverPolicy whose thresholds would move traffic off healthy clusters", () => {
    const policy = `apiVersion: gantry/v1
kind: FailoverPolicy
metadata: { name: bad, namespace: mc }
spec:
  clusterOrder: [west, west, West, east.eu]
  overprovisioningFactor: 50
  outlierDetection: { maxEjectionPercent: 101, interval: 0s, failurePercentage: { threshold: 0 } }
---
`;
    const t = world(policy);
    expect(status(t, "FailoverPolicy/mc/bad")).toEqual({
      state: "INVALID",
      messages: [
        'spec.clusterOrder[1]: "west" is listed twice',
        `spec.clusterOrder[2]: "West" is not a cluster name: ${clusterNameRule}`,
        `spec.clusterOrder[3]: "east.eu" is not a cluster name: ${clusterNameRule}`,
        "spec.overprovisioningFactor: 50 is under 100 (percent); traffic would leave healthy clusters",
        "spec.outlierDetection.maxEjectionPercent: must be 0..100",
        "spec.outlierDetection.interval: must be over 0s",
        "spec.outlierDetection.failurePercentage.threshold: must be 1..100",
      ],
    });
  });

  it("refuses a subset or both a destination and a virtual destination on one forward", () => {
    const t = world(
      gateway() +
        routeTable("[]", "virtualDestination: { name: svc }, destination: { name: svc-west }, subset: x") +
        virtualDestination() +
        members,
    );
    expect(status(t, "RouteTable/mc/svc")?.messages.join("\n")).toContain(
      "spec.http[0].forwardTo.destinations[0]: set destination or virtualDestination, not both",
    );
  });
});

describe("placement (metadata.clusters)", () => {
  it("places a gateway's proxies in its clusters", () => {
    const t = world(gateway("[east]") + routeTable() + virtualDestination() + members);
    expect(t.groups[0]?.proxies).toEqual({ labels: { app: "mc" }, nodeIds: [], clusters: ["east"] });
  });

  it("attaches a route table placed in some clusters only to gateways placed within them", () => {
    const everywhere = world(gateway("[]") + routeTable("[east]") + virtualDestination() + members);
    expect(status(everywhere, "RouteTable/mc/svc")).toEqual({
      state: "WARNING",
      messages: [
        "not attached to Gateway mc/mesh: metadata.clusters: the route table is placed in east, the gateway in every cluster",
        "not attached to any gateway listener",
      ],
    });
    expect(everywhere.groups[0]?.listeners[0]?.virtualHosts).toEqual([]);
    const wider = world(gateway("[east, west]") + routeTable("[east]") + virtualDestination() + members);
    expect(status(wider, "RouteTable/mc/svc")?.messages).toContain(
      "not attached to Gateway mc/mesh: metadata.clusters: the gateway is placed in west too, where the route table is not",
    );
    const within = world(gateway("[east]") + routeTable("[east, west]") + virtualDestination() + members);
    expect(status(within, "RouteTable/mc/svc")).toEqual({ state: "ACCEPTED", messages: [] });
  });
});
