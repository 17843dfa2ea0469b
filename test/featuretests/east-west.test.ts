// East-west gateways: an EAST_WEST listener passes other clusters' TLS by SNI to its own cluster's
// endpoints of each VirtualDestination port, and Envoy callers elsewhere reach that cluster through
// its external addresses, with Gantry's workload mTLS end to end (docs/multicluster-routing.md).
import type { JsonObject as Json } from "@bufbuild/protobuf";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  atPriority,
  defaultOutlierDetection,
  edsCluster,
  endpoint,
  listener,
  loadAssignment,
  locality,
  prefix,
  route,
  routeConfig,
  toCluster,
  virtualHost,
  withHealth,
} from "./envoy.js";
import { eastWestListener, eastWestSocketMatch, gatewayEndpoint, grpcWorkloadTls, workloadTls } from "./envoy-mesh.js";
import { accepted, CDS, clusterNode, EDS, featureServer, invalid, LDS, RDS, warning } from "./harness.js";
import {
  destination,
  forward,
  gateway,
  grpcGateway,
  httpRoute,
  placed,
  routeTable,
  virtualDestination,
} from "./resources.js";

const ft = featureServer();

const mutual = { workloadTls: { mode: "MUTUAL", serviceAccount: "reviews" } };

function eastWestGateway(ns: string, cluster: string, addresses: Json[]) {
  return placed(
    gateway(`${ns}/ew-${cluster}`, { app: `${ns}-ew` }, [
      { name: "tls", port: 15443, protocol: "EAST_WEST", externalAddresses: addresses },
    ]),
    [cluster],
  );
}

describe("east-west gateways", () => {
  it("sends Envoy callers other clusters through their gateways with mTLS, and gRPC callers directly", {
    timeout: 60_000,
  }, async () => {
    const ns = "ew";
    // An east-west listener passes every namespace's VirtualDestinations: leave none behind.
    onTestFinished(() => ft.clear(ns));
    const health = (h?: string) => (h ? { health: h } : {});
    const reviewsEast = (h?: string) =>
      placed(
        destination(
          `${ns}/reviews-east`,
          { number: 8080, targetPort: 9080 },
          [{ address: "10.1.0.1", ...health(h) }],
          mutual,
        ),
        ["east"],
      );
    await ft.apply(
      gateway(`${ns}/sidecars`, { app: `${ns}-sidecar` }, [{ port: 8080 }]),
      grpcGateway(`${ns}/mesh`, { app: `${ns}-grpc` }),
      routeTable(
        `${ns}/reviews`,
        ["reviews.global"],
        ["sidecars", "mesh"],
        [httpRoute("all", [], forward([{ virtualDestination: { name: "reviews" } }]))],
      ),
      reviewsEast(),
      placed(destination(`${ns}/reviews-west`, 8080, ["10.2.0.1"], mutual), ["west"]),
      placed(destination(`${ns}/reviews-south`, 8080, ["10.3.0.1"], mutual), ["south"]),
      virtualDestination(`${ns}/reviews`, [{ number: 8080 }], {
        destinations: [{ name: "reviews-east" }, { name: "reviews-west" }, { name: "reviews-south" }],
      }),
      eastWestGateway(ns, "east", [{ address: "198.51.100.10" }, { address: "198.51.100.11", port: 443 }]),
    );
    const cluster = `virtual:${ns}/reviews:8080`;
    const sni = `outbound_.8080_.reviews_.${ns}.vd.gantry`;
    const identity = `spiffe://gantry.local/ns/${ns}/sa/reviews`;
    const local = `eastwest:east:${ns}/reviews:8080`;
    const envoyCluster = edsCluster(cluster, {
      extra: {
        outlierDetection: defaultOutlierDetection,
        transportSocket: workloadTls("MUTUAL", [identity]),
        transportSocketMatches: [eastWestSocketMatch(sni, [identity])],
      },
    });
    const eastThroughGateway = (healthStatus?: string) => {
      const gateways = [gatewayEndpoint("198.51.100.10", 15443), gatewayEndpoint("198.51.100.11", 443)];
      return locality(
        { region: "east" },
        healthStatus ? gateways.map((g) => withHealth(g, healthStatus)) : gateways,
        1,
      );
    };
    const west = locality({ region: "west" }, [endpoint("10.2.0.1", 8080)]);

    // The east-west gateway: one chain per VirtualDestination port with endpoints in east.
    const ewNode = ft.sotw(clusterNode(`${ns}-ew-east`, { app: `${ns}-ew` }, "east"));
    ewNode.subscribe(CDS);
    await ewNode.expect(CDS, [edsCluster(local)]);
    ewNode.subscribe(EDS, [local]);
    await ewNode.expect(EDS, [loadAssignment(local, [locality({}, [endpoint("10.1.0.1", 9080)])])]);
    ewNode.subscribe(LDS);
    await ewNode.expect(LDS, [eastWestListener(`${ns}/ew-east/tls`, 15443, [[sni, local]])]);

    // An Envoy caller in west: west directly, east through its gateway; south has none, so is left out.
    const sidecar = ft.sotw(clusterNode(`${ns}-sidecar-west`, { app: `${ns}-sidecar` }, "west"));
    sidecar.subscribe(CDS);
    await sidecar.expect(CDS, [envoyCluster]);
    sidecar.subscribe(EDS, [cluster]);
    await sidecar.expect(EDS, [loadAssignment(cluster, [west, atPriority(eastThroughGateway(), 1)])]);
    sidecar.subscribe(LDS);
    await sidecar.expect(LDS, [listener(`${ns}/sidecars/8080`, 8080)]);
    sidecar.subscribe(RDS, [`${ns}/sidecars/8080`]);
    await sidecar.expect(RDS, [
      routeConfig(`${ns}/sidecars/8080`, [
        virtualHost(`${ns}/reviews`, ["reviews.global"], [route(`${ns}/reviews/all`, prefix("/"), toCluster(cluster))]),
      ]),
    ]);

    // An Envoy caller in no member cluster reaches every cluster through its gateway: here, east only.
    const outside = ft.sotw(clusterNode(`${ns}-sidecar-north`, { app: `${ns}-sidecar` }, "north"));
    outside.subscribe(EDS, [cluster]);
    await outside.expect(EDS, [loadAssignment(cluster, [eastThroughGateway()])]);

    // A proxyless gRPC caller in west: every cluster directly, its TLS from the provider `gantry`.
    const grpc = ft.sotw(clusterNode(`${ns}-grpc-west`, { app: `${ns}-grpc` }, "west"));
    grpc.subscribe(CDS, [cluster]);
    await grpc.expect(CDS, [
      edsCluster(cluster, {
        extra: { outlierDetection: defaultOutlierDetection, transportSocket: grpcWorkloadTls("MUTUAL", [identity]) },
      }),
    ]);
    grpc.subscribe(EDS, [cluster]);
    await grpc.expect(EDS, [
      loadAssignment(cluster, [
        west,
        atPriority(locality({ region: "east" }, [endpoint("10.1.0.1", 9080)]), 1),
        atPriority(locality({ region: "south" }, [endpoint("10.3.0.1", 8080)]), 2),
      ]),
    ]);

    const unreachable = (c: string) =>
      `cluster ${c} has no east-west gateway (a Gateway placed in it with an EAST_WEST listener): Envoy callers of Gateway ${ns}/sidecars outside ${c} are not given its endpoints`;
    expect((await ft.statuses(ns))[`VirtualDestination/${ns}/reviews`]).toEqual(
      warning(unreachable("south"), unreachable("west")),
    );
    // The east-west gateway's passthrough is made from the VirtualDestination: describe names it too.
    const described = await ft.api.describe({ ref: { kind: "VirtualDestination", namespace: ns, name: "reviews" } });
    expect(described.gateways.map((g) => `${g.kind}/${g.namespace}/${g.name}`)).toEqual([
      `Gateway/${ns}/ew-east`,
      `Gateway/${ns}/mesh`,
      `Gateway/${ns}/sidecars`,
    ]);

    // East's endpoints unusable: the gateway stands for them, so it is UNHEALTHY too.
    await ft.apply(reviewsEast("UNHEALTHY"));
    await ewNode.expect(EDS, [
      loadAssignment(local, [locality({}, [withHealth(endpoint("10.1.0.1", 9080), "UNHEALTHY")])]),
    ]);
    await sidecar.expect(EDS, [loadAssignment(cluster, [west, atPriority(eastThroughGateway("UNHEALTHY"), 1)])]);
    await grpc.expect(EDS, [
      loadAssignment(cluster, [
        west,
        atPriority(locality({ region: "east" }, [withHealth(endpoint("10.1.0.1", 9080), "UNHEALTHY")]), 1),
        atPriority(locality({ region: "south" }, [endpoint("10.3.0.1", 8080)]), 2),
      ]),
    ]);
    await ft.apply(reviewsEast());
    await ewNode.expect(EDS, [loadAssignment(local, [locality({}, [endpoint("10.1.0.1", 9080)])])]);
    await sidecar.expect(EDS, [loadAssignment(cluster, [west, atPriority(eastThroughGateway(), 1)])]);
    await grpc.expect(EDS, [
      loadAssignment(cluster, [
        west,
        atPriority(locality({ region: "east" }, [endpoint("10.1.0.1", 9080)]), 1),
        atPriority(locality({ region: "south" }, [endpoint("10.3.0.1", 8080)]), 2),
      ]),
    ]);

    // The gateway gone: west's Envoy callers lose east, the gateway's node its listener and cluster.
    await ft.delete(`Gateway/${ns}/ew-east`);
    // Listeners go before the clusters they use (Envoy's make-before-break, in reverse).
    await ewNode.expect(LDS, []);
    await ewNode.expect(CDS, []);
    await sidecar.expect(CDS, [
      edsCluster(cluster, {
        extra: { outlierDetection: defaultOutlierDetection, transportSocket: workloadTls("MUTUAL", [identity]) },
      }),
    ]);
    await sidecar.expect(EDS, [loadAssignment(cluster, [west])]);
    await sidecar.expectQuiet();
    await grpc.expectQuiet();
    expect((await ft.statuses(ns))[`VirtualDestination/${ns}/reviews`]).toEqual(
      warning(unreachable("east"), unreachable("south"), unreachable("west")),
    );
  });

  it("refuses EAST_WEST listeners that cannot serve, naming the field", async () => {
    const ns = "ew-bad";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      gateway(`${ns}/unplaced`, { app: ns }, [
        { name: "tls", port: 15443, protocol: "EAST_WEST", externalAddresses: [{ address: "gw.example.com" }] },
      ]),
      placed(
        gateway(`${ns}/wrong`, { app: ns }, [
          {
            name: "tls",
            port: 15443,
            protocol: "EAST_WEST",
            httpsRedirect: true,
            allowedRouteTables: [{ host: "x" }],
          },
          { name: "http", port: 8080, externalAddresses: [{ address: "198.51.100.1" }] },
        ]),
        ["east"],
      ),
    );
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/unplaced`]: invalid(
        "spec.listeners[0].protocol: EAST_WEST serves the endpoints of the one cluster its gateway runs in; place the gateway in exactly one cluster (metadata.clusters), not every cluster",
        `spec.listeners[0].externalAddresses[0].address: "gw.example.com" is not an IP address (callers' EDS does not resolve names)`,
      ),
      [`Gateway/${ns}/wrong`]: invalid(
        "spec.listeners[0].externalAddresses: at least one is required (where other clusters reach this listener)",
        "spec.listeners[0].httpsRedirect: only for HTTP listeners",
        "spec.listeners[0].allowedRouteTables: EAST_WEST takes no route tables (it forwards by SNI)",
        "spec.listeners[1].externalAddresses: only for EAST_WEST listeners",
      ),
    });
  });
  it("adds up a cluster's gateways; sends none for a cluster without members; warns only callers outside", async () => {
    const ns = "ew-more";
    onTestFinished(() => ft.clear(ns));
    const eastWest = (name: string, cluster: string, address: Json) =>
      placed(
        gateway(`${ns}/${name}`, { app: `${ns}-${name}` }, [
          { name: "tls", port: 15443, protocol: "EAST_WEST", externalAddresses: [address] },
        ]),
        [cluster],
      );
    await ft.apply(
      // Placed in west only: its callers never need a gateway into west.
      placed(gateway(`${ns}/sidecars`, { app: `${ns}-sidecar` }, [{ port: 8080 }]), ["west"]),
      routeTable(
        `${ns}/reviews`,
        ["reviews.global"],
        ["sidecars"],
        [httpRoute("all", [], forward([{ virtualDestination: { name: "reviews" } }]))],
      ),
      placed(destination(`${ns}/reviews-east`, 8080, ["10.1.1.1"]), ["east"]),
      // The older spelling of placement, the label gantry.io/cluster, places a member and a gateway alike.
      destination(`${ns}/reviews-west`, 8080, ["10.2.1.1"], {}, { "gantry.io/cluster": "west" }),
      virtualDestination(`${ns}/reviews`, [{ number: 8080 }], {
        destinations: [{ name: "reviews-east" }, { name: "reviews-west" }],
      }),
      eastWest("ew-east-a", "east", { address: "198.51.100.21" }),
      gateway(`${ns}/ew-east-b`, { app: `${ns}-ew-east-b`, "gantry.io/cluster": "east" }, [
        {
          name: "tls",
          port: 15443,
          protocol: "EAST_WEST",
          externalAddresses: [{ address: "198.51.100.20", port: 443 }],
        },
      ]),
      eastWest("ew-north", "north", { address: "198.51.100.30" }),
    );
    const cluster = `virtual:${ns}/reviews:8080`;
    const sni = `outbound_.8080_.reviews_.${ns}.vd.gantry`;

    const sidecar = ft.sotw(clusterNode(`${ns}-sidecar`, { app: `${ns}-sidecar` }, "west"));
    sidecar.subscribe(CDS);
    // Members without workload TLS: the gateway path is still mTLS, checking the trust bundle only.
    await sidecar.expect(CDS, [
      edsCluster(cluster, {
        extra: { outlierDetection: defaultOutlierDetection, transportSocketMatches: [eastWestSocketMatch(sni)] },
      }),
    ]);
    sidecar.subscribe(EDS, [cluster]);
    await sidecar.expect(EDS, [
      loadAssignment(cluster, [
        locality({ region: "west" }, [endpoint("10.2.1.1", 8080)]),
        atPriority(
          locality(
            { region: "east" },
            [gatewayEndpoint("198.51.100.20", 443), gatewayEndpoint("198.51.100.21", 15443)],
            1,
          ),
          1,
        ),
      ]),
    ]);

    // Both east gateways pass the SNI on (the label-placed one's node need not carry the label);
    // north's has no member endpoints to serve, so no listener.
    const local = `eastwest:east:${ns}/reviews:8080`;
    for (const name of ["ew-east-a", "ew-east-b"]) {
      const node = ft.sotw(clusterNode(`${ns}-${name}`, { app: `${ns}-${name}` }, "east"));
      node.subscribe(LDS);
      await node.expect(LDS, [eastWestListener(`${ns}/${name}/tls`, 15443, [[sni, local]])]);
    }
    const north = ft.sotw(clusterNode(`${ns}-ew-north`, { app: `${ns}-ew-north` }, "north"));
    north.subscribe(LDS);
    await north.expect(LDS, []);
    north.subscribe(CDS);
    await north.expect(CDS, []);
    await north.expectQuiet();

    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/sidecars`]: accepted,
      [`RouteTable/${ns}/reviews`]: accepted,
      [`Destination/${ns}/reviews-east`]: accepted,
      [`Destination/${ns}/reviews-west`]: accepted,
      [`VirtualDestination/${ns}/reviews`]: accepted,
      [`Gateway/${ns}/ew-east-a`]: accepted,
      [`Gateway/${ns}/ew-east-b`]: accepted,
      [`Gateway/${ns}/ew-north`]: accepted,
    });
  });
});
