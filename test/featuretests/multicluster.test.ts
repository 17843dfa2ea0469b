// VirtualDestinations and FailoverPolicies: one global service over Destinations placed in several
// workload clusters. What each caller receives depends on the cluster it runs in (its node metadata
// `cluster`): its own cluster first, then the failover order (docs/multicluster-routing.md).
import type { JsonObject as Json } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { clusterNameRule } from "../../src/resources/index.js";
import {
  apiListener,
  atPriority,
  defaultOutlierDetection,
  edsCluster,
  endpoint,
  loadAssignment,
  locality,
  prefix,
  route,
  routeConfig,
  toCluster,
  toWeighted,
  virtualHost,
  withHealth,
} from "./envoy.js";
import { grpcWorkloadTls } from "./envoy-mesh.js";
import { accepted, CDS, clusterNode, EDS, featureServer, invalid, LDS, RDS, warning } from "./harness.js";
import {
  destination,
  failoverPolicy,
  forward,
  grpcGateway,
  httpRoute,
  placed,
  prefixMatch,
  routeTable,
  virtualDestination,
} from "./resources.js";

const ft = featureServer();

const grpcPort = { number: 8080, protocol: "GRPC" };

/** reviews-east (two zones, target port 9080), reviews-west, reviews-south (weight 3), all labelled app=reviews. */
function members(ns: string, west: { health?: string } = {}) {
  const app = { app: "reviews" };
  return [
    placed(
      destination(
        `${ns}/reviews-east`,
        { ...grpcPort, targetPort: 9080 },
        [
          { address: "10.1.0.1", locality: { zone: "east-a" } },
          { address: "10.1.0.2", locality: { zone: "east-b" } },
        ],
        {},
        app,
      ),
      ["east"],
    ),
    placed(destination(`${ns}/reviews-west`, grpcPort, [{ address: "10.2.0.1", ...west }], {}, app), ["west"]),
    placed(destination(`${ns}/reviews-south`, grpcPort, [{ address: "10.3.0.1", weight: 3 }], {}, app), ["south"]),
  ];
}

/** Each member cluster's locality, as every caller sees it (its region is the cluster's name). */
const east = [
  locality({ region: "east", zone: "east-a" }, [endpoint("10.1.0.1", 9080)]),
  locality({ region: "east", zone: "east-b" }, [endpoint("10.1.0.2", 9080)]),
];
const west = (health?: string) => {
  const e = endpoint("10.2.0.1", 8080);
  return [locality({ region: "west" }, [health ? withHealth(e, health) : e])];
};
const south = [locality({ region: "south" }, [endpoint("10.3.0.1", 8080, 3)])];

/** A caller's endpoints: each cluster's localities at the priority of its place in `order`. */
function view(cluster: string, order: Json[][], extra: Json = {}): Json {
  return {
    ...loadAssignment(
      cluster,
      order.flatMap((localities, priority) => localities.map((l) => atPriority(l, priority))),
    ),
    ...extra,
  };
}

describe("VirtualDestination and FailoverPolicy", () => {
  it("gives each caller cluster its own cluster first, then the failover order; updates only the views that change", {
    timeout: 60_000,
  }, async () => {
    const ns = "mc-grpc";
    const vd = (extra: Record<string, unknown> = { failoverPolicy: { name: "reviews" } }) =>
      virtualDestination(
        `${ns}/reviews`,
        [grpcPort],
        { destinationSelector: { labels: { app: "reviews" } } },
        {
          hosts: ["reviews.global"],
          ...extra,
        },
      );
    await ft.apply(
      grpcGateway(`${ns}/mesh`, { app: ns }),
      routeTable(
        `${ns}/reviews`,
        ["reviews.global"],
        ["mesh"],
        [httpRoute("all", [], forward([{ virtualDestination: { name: "reviews" } }]))],
      ),
      ...members(ns),
      vd(),
      failoverPolicy(`${ns}/reviews`, {
        clusterOrder: ["south"],
        overprovisioningFactor: 150,
        outlierDetection: { consecutiveErrors: 3, interval: "5s", failurePercentage: { threshold: 60 } },
      }),
    );
    const cluster = `virtual:${ns}/reviews:8080`;
    const outlierDetection = {
      consecutive5xx: 3,
      interval: "5s",
      baseEjectionTime: "30s",
      maxEjectionPercent: 100,
      failurePercentageThreshold: 60,
      enforcingFailurePercentage: 100,
      failurePercentageMinimumHosts: 5,
      failurePercentageRequestVolume: 50,
    };
    const factor = (overprovisioningFactor: number) => ({ policy: { overprovisioningFactor } });

    // A caller in east: east, then the policy's south, then the rest by name.
    const inEast = ft.sotw(clusterNode(`${ns}-east`, { app: ns }, "east"));
    inEast.subscribe(LDS, ["reviews.global"]);
    await inEast.expect(LDS, [apiListener("reviews.global", `${ns}/mesh/grpc/reviews.global`)]);
    inEast.subscribe(RDS, [`${ns}/mesh/grpc/reviews.global`]);
    await inEast.expect(RDS, [
      routeConfig(`${ns}/mesh/grpc/reviews.global`, [
        virtualHost(`${ns}/reviews`, ["reviews.global"], [route(`${ns}/reviews/all`, prefix("/"), toCluster(cluster))]),
      ]),
    ]);
    inEast.subscribe(CDS, [cluster]);
    await inEast.expect(CDS, [edsCluster(cluster, { http2: true, extra: { outlierDetection } })]);
    inEast.subscribe(EDS, [cluster]);
    await inEast.expect(EDS, [view(cluster, [east, south, west()], factor(150))]);

    // A caller in west, and one in no member cluster (the failover order itself), on delta.
    const inWest = ft.delta(clusterNode(`${ns}-west`, { app: ns }, "west"));
    inWest.subscribe(EDS, [cluster]);
    await inWest.expect(EDS, [view(cluster, [west(), south, east], factor(150))]);
    const outside = ft.sotw(clusterNode(`${ns}-north`, { app: ns }, "north"));
    outside.subscribe(EDS, [cluster]);
    await outside.expect(EDS, [view(cluster, [south, east, west()], factor(150))]);

    // Without a cluster order, members go by name after the caller's own: east's view is unchanged.
    await ft.apply(
      failoverPolicy(`${ns}/reviews`, {
        overprovisioningFactor: 150,
        outlierDetection: { consecutiveErrors: 3, interval: "5s", failurePercentage: { threshold: 60 } },
      }),
    );
    await inWest.expect(EDS, [view(cluster, [west(), east, south], factor(150))]);
    await outside.expect(EDS, [view(cluster, [east, south, west()], factor(150))]);
    await inEast.expectQuiet();

    // A draining endpoint is sent as such to every caller.
    await ft.apply(...members(ns, { health: "DRAINING" }));
    await inEast.expect(EDS, [view(cluster, [east, south, west("DRAINING")], factor(150))]);
    await inWest.expect(EDS, [view(cluster, [west("DRAINING"), east, south], factor(150))]);
    await outside.expect(EDS, [view(cluster, [east, south, west("DRAINING")], factor(150))]);

    // The policy no longer named: Envoy's defaults for the factor, Gantry's outlier detection.
    await ft.apply(vd({}));
    await inEast.expect(CDS, [
      edsCluster(cluster, { http2: true, extra: { outlierDetection: defaultOutlierDetection } }),
    ]);
    await inEast.expect(EDS, [view(cluster, [east, south, west("DRAINING")])]);
    await inWest.expect(EDS, [view(cluster, [west("DRAINING"), east, south])]);
    await outside.expect(EDS, [view(cluster, [east, south, west("DRAINING")])]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/mesh`]: accepted,
      [`RouteTable/${ns}/reviews`]: accepted,
      [`Destination/${ns}/reviews-east`]: accepted,
      [`Destination/${ns}/reviews-west`]: accepted,
      [`Destination/${ns}/reviews-south`]: accepted,
      [`VirtualDestination/${ns}/reviews`]: accepted,
      [`FailoverPolicy/${ns}/reviews`]: warning("no VirtualDestination names it"),
    });

    // A member gone: its cluster takes no priority, the others stay contiguous.
    await ft.delete(`Destination/${ns}/reviews-south`);
    await inEast.expect(EDS, [view(cluster, [east, west("DRAINING")])]);
    await inWest.expect(EDS, [view(cluster, [west("DRAINING"), east])]);
    await outside.expect(EDS, [view(cluster, [east, west("DRAINING")])]);

    // The VirtualDestination gone: gRPC callers lose the route (they have no direct responses).
    await ft.delete(`VirtualDestination/${ns}/reviews`);
    await inEast.expect(RDS, [
      routeConfig(`${ns}/mesh/grpc/reviews.global`, [{ name: `${ns}/reviews`, domains: ["reviews.global"] }]),
    ]);
    await inEast.expect(CDS, []);
    await inWest.expect(EDS, [], [cluster]);
    await inEast.expectQuiet();
    await inWest.expectQuiet();
    expect((await ft.statuses(ns))[`RouteTable/${ns}/reviews`]).toEqual(
      warning(
        // Proxyless clients are not given a route that cannot forward: one message says so.
        `spec.http[0] (all): spec.http[0].forwardTo.destinations[0].virtualDestination: VirtualDestination ${ns}/reviews not found or invalid; left out for Gateway ${ns}/mesh`,
      ),
    );
  });

  it("reports bad members and bad references by field", async () => {
    const ns = "mc-bad";
    await ft.apply(
      grpcGateway(`${ns}/mesh`, { app: ns }),
      placed(destination(`${ns}/east`, grpcPort, ["10.1.0.1"], {}, { app: "a" }), ["east"]),
      destination(`${ns}/nowhere`, grpcPort, ["10.9.0.1"], {}, { app: "a" }),
      placed(destination(`${ns}/dns`, grpcPort, [], { dns: "a.internal" }, { app: "a" }), ["west"]),
      placed(destination(`${ns}/other-port`, 9090, ["10.2.0.1"], {}, { app: "a" }), ["west"]),
      virtualDestination(`${ns}/a`, [grpcPort], {
        destinations: [{ name: "east" }, { name: "missing" }],
        destinationSelector: { labels: { app: "a" } },
      }),
      virtualDestination(
        `${ns}/b`,
        [grpcPort],
        { destinations: [{ name: "east" }] },
        { failoverPolicy: { name: "nope" } },
      ),
      virtualDestination(
        `${ns}/c`,
        [grpcPort],
        { destinations: [{ name: "east" }] },
        { failoverPolicy: { name: "bad" } },
      ),
      virtualDestination(`${ns}/d`, [], { destinationSelector: { labels: {} } }),
      failoverPolicy(`${ns}/bad`, {
        clusterOrder: ["West", "east", "east"],
        overprovisioningFactor: 90,
        outlierDetection: { maxEjectionPercent: 101, interval: "0s", failurePercentage: { threshold: 101 } },
      }),
    );
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/mesh`]: accepted,
      [`Destination/${ns}/east`]: accepted,
      [`Destination/${ns}/nowhere`]: accepted,
      [`Destination/${ns}/dns`]: accepted,
      [`Destination/${ns}/other-port`]: accepted,
      [`VirtualDestination/${ns}/a`]: warning(
        `spec.destinations[1]: Destination ${ns}/missing not found or invalid; left out`,
        `spec.destinationSelector: Destination ${ns}/dns resolves by DNS; only static endpoints fail over; left out`,
        `spec.destinationSelector: Destination ${ns}/nowhere is placed in no cluster (metadata.clusters); left out`,
        `spec.ports: Destination ${ns}/other-port has no port 8080; left out of it`,
      ),
      [`VirtualDestination/${ns}/b`]: invalid(`spec.failoverPolicy: FailoverPolicy ${ns}/nope not found or invalid`),
      [`VirtualDestination/${ns}/c`]: invalid(`spec.failoverPolicy: FailoverPolicy ${ns}/bad not found or invalid`),
      [`VirtualDestination/${ns}/d`]: invalid(
        "spec.ports: at least one port is required",
        "spec.destinationSelector.labels: required (an empty selector would take every Destination)",
      ),
      [`FailoverPolicy/${ns}/bad`]: invalid(
        `spec.clusterOrder[0]: "West" is not a cluster name: ${clusterNameRule}`,
        `spec.clusterOrder[2]: "east" is listed twice`,
        "spec.overprovisioningFactor: 90 is under 100 (percent); traffic would leave healthy clusters",
        "spec.outlierDetection.maxEjectionPercent: must be 0..100",
        "spec.outlierDetection.interval: must be over 0s",
        "spec.outlierDetection.failurePercentage.threshold: must be 1..100",
      ),
    });
  });

  it("adds up members sharing a cluster, takes the members' workload TLS, and mixes with destinations in splits", async () => {
    const ns = "mc-members";
    const tls = (sni: string) => ({ workloadTls: { mode: "MUTUAL", sni } });
    await ft.apply(
      grpcGateway(`${ns}/mesh`, { app: ns }),
      routeTable(
        `${ns}/reviews`,
        ["reviews.global"],
        ["mesh"],
        [
          httpRoute(
            "split",
            [prefixMatch("/split")],
            forward([
              { virtualDestination: { name: "reviews" }, weight: 3 },
              { destination: { name: "plain" }, weight: 1 },
            ]),
          ),
          httpRoute("mixed", [prefixMatch("/mixed")], forward([{ virtualDestination: { name: "mixed-sni" } }])),
          httpRoute(
            "subset",
            [prefixMatch("/subset")],
            forward([{ virtualDestination: { name: "reviews" }, subset: "v1" }]),
          ),
          httpRoute(
            "both",
            [prefixMatch("/both")],
            forward([{ virtualDestination: { name: "reviews" }, destination: { name: "plain" } }]),
          ),
        ],
      ),
      destination(`${ns}/plain`, grpcPort, ["10.9.2.1"]),
      // An endpoint's own port wins over the member's target port.
      placed(
        destination(
          `${ns}/a-east`,
          { ...grpcPort, targetPort: 9080 },
          [{ address: "10.1.2.1", port: 9443 }],
          tls("reviews.shop"),
        ),
        ["east"],
      ),
      placed(destination(`${ns}/b-east`, { ...grpcPort, targetPort: 9080 }, ["10.1.2.2"], tls("reviews.shop")), [
        "east",
      ]),
      placed(destination(`${ns}/c-west`, grpcPort, ["10.2.2.1"], tls("reviews.shop")), ["west"]),
      placed(destination(`${ns}/d-south`, grpcPort, ["10.3.2.1"]), ["south"]),
      placed(destination(`${ns}/e-west`, grpcPort, ["10.2.2.2"], tls("other.shop")), ["west"]),
      virtualDestination(`${ns}/reviews`, [grpcPort], {
        destinations: [{ name: "a-east" }, { name: "b-east" }, { name: "c-west" }, { name: "d-south" }],
      }),
      virtualDestination(`${ns}/mixed-sni`, [grpcPort], { destinations: [{ name: "a-east" }, { name: "e-west" }] }),
    );
    const id = (name: string) => `spiffe://gantry.local/ns/${ns}/sa/${name}`;
    const reviews = `virtual:${ns}/reviews:8080`;
    const mixed = `virtual:${ns}/mixed-sni:8080`;
    const client = ft.sotw(clusterNode(`${ns}-east`, { app: ns }, "east"));
    client.subscribe(RDS, [`${ns}/mesh/grpc/reviews.global`]);
    await client.expect(RDS, [
      routeConfig(`${ns}/mesh/grpc/reviews.global`, [
        virtualHost(
          `${ns}/reviews`,
          ["reviews.global"],
          [
            route(
              `${ns}/reviews/split`,
              prefix("/split"),
              toWeighted([
                [reviews, 3],
                [`${ns}/plain:8080`, 1],
              ]),
            ),
            route(`${ns}/reviews/mixed`, prefix("/mixed"), toCluster(mixed)),
          ],
        ),
      ]),
    ]);
    client.subscribe(CDS, [reviews, mixed]);
    await client.expect(CDS, [
      edsCluster(reviews, {
        http2: true,
        extra: {
          outlierDetection: defaultOutlierDetection,
          transportSocket: grpcWorkloadTls("MUTUAL", [id("a-east"), id("b-east"), id("c-west")], "reviews.shop"),
        },
      }),
      // The members' SNIs differ: none is sent.
      edsCluster(mixed, {
        http2: true,
        extra: {
          outlierDetection: defaultOutlierDetection,
          transportSocket: grpcWorkloadTls("MUTUAL", [id("a-east"), id("e-west")]),
        },
      }),
    ]);
    client.subscribe(EDS, [reviews]);
    await client.expect(EDS, [
      loadAssignment(reviews, [
        locality({ region: "east" }, [endpoint("10.1.2.1", 9443), endpoint("10.1.2.2", 9080)]),
        atPriority(locality({ region: "west" }, [endpoint("10.2.2.1", 8080)]), 1),
      ]),
    ]);
    const statuses = await ft.statuses(ns);
    expect({
      routeTable: statuses[`RouteTable/${ns}/reviews`],
      reviews: statuses[`VirtualDestination/${ns}/reviews`],
      mixed: statuses[`VirtualDestination/${ns}/mixed-sni`],
    }).toEqual({
      routeTable: warning(
        `spec.http[2] (subset): spec.http[2].forwardTo.destinations[0].subset: a VirtualDestination has no subsets; left out for Gateway ${ns}/mesh`,
        `spec.http[3] (both): spec.http[3].forwardTo.destinations[0]: set destination or virtualDestination, not both; left out for Gateway ${ns}/mesh`,
      ),
      reviews: warning(
        `spec.destinations[3]: Destination ${ns}/d-south's spec.workloadTls mode is DISABLE, not MUTUAL as Destination ${ns}/a-east's: callers use one TLS mode for every member; left out`,
      ),
      mixed: accepted,
    });
  });
});
