import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import type { DeltaDiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { apiListener, edsCluster, endpoints, routes } from "./fixtures.js";
import { DeltaClient, probe, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

function clusters(...names: string[]): XdsResource[] {
  return [...names.map((name) => edsCluster(name)), ...names.map((name) => endpoints(name, 9000)), probe("p")];
}

const sent = (response: DeltaDiscoveryResponse) => response.resources.map((r) => r.name).sort();

describe("delta ADS", () => {
  it("sends only what changed, with per-resource versions, and removals by name", async () => {
    server.cache.setSnapshot("delta", clusters("a", "b", "c"));
    const client = DeltaClient.open(server, "delta");
    client.send({ typeUrl: TypeUrl.cluster });
    const first = await client.next();
    expect(sent(first)).toEqual(["a", "b", "c"]);
    expect(first.removedResources).toEqual([]);
    for (const resource of first.resources) expect(resource.version).toMatch(/^[0-9a-f]{16}$/);
    client.ack(first);
    await client.expectQuiet();

    server.cache.setSnapshot("delta", [
      ...clusters("a", "c").filter((r) => r.name !== "a"),
      edsCluster("a", 5),
      endpoints("a", 9000),
    ]);
    const change = await client.next();
    expect(sent(change)).toEqual(["a"]);
    expect(change.removedResources).toEqual(["b"]);
    client.ack(change);
    await client.expectQuiet();
    client.close();
  });

  it("answers a subscribed name that does not exist with a removal, then sends it when it appears", async () => {
    server.cache.setSnapshot("late", clusters("a"));
    const client = DeltaClient.open(server, "late");
    client.send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ["a", "late"] });
    const first = await client.next();
    expect(sent(first)).toEqual(["a"]);
    expect(first.removedResources).toEqual(["late"]);
    client.ack(first);
    await client.expectQuiet();
    server.cache.setSnapshot("late", clusters("a", "late"));
    const appeared = await client.next();
    expect(sent(appeared)).toEqual(["late"]);
    client.ack(appeared);
    client.close();
  });

  it("stops sending an unsubscribed name, and re-sends a name subscribed again", async () => {
    server.cache.setSnapshot("unsub", clusters("a", "b"));
    const client = DeltaClient.open(server, "unsub");
    client.send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ["a", "b"] });
    const first = await client.next();
    client.send({ typeUrl: TypeUrl.endpoint, responseNonce: first.nonce, resourceNamesUnsubscribe: ["b"] });
    await client.expectQuiet();
    server.cache.setSnapshot("unsub", [...clusters("a"), edsCluster("b"), endpoints("b", 9001)]);
    await client.expectQuiet();
    // Subscribing again gets the resource even though it was sent before.
    client.send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ["a"] });
    const again = await client.next();
    expect(sent(again)).toEqual(["a"]);
    client.close();
  });

  it("honours subscription changes on a request with a stale nonce", async () => {
    server.cache.setSnapshot("stale", clusters("a", "b"));
    const client = DeltaClient.open(server, "stale");
    client.send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ["a"] });
    const first = await client.next();
    client.ack(first);
    client.send({ typeUrl: TypeUrl.endpoint, responseNonce: "old", resourceNamesSubscribe: ["b"] });
    const second = await client.next();
    expect(sent(second)).toEqual(["b"]);
    client.close();
  });

  it("sends on reconnect only what differs from initial_resource_versions", async () => {
    server.cache.setSnapshot("reconnect", clusters("a", "b", "c"));
    const before = DeltaClient.open(server, "reconnect");
    before.send({ typeUrl: TypeUrl.cluster });
    const held = await before.next();
    before.ack(held);
    before.close();
    const versions = Object.fromEntries(held.resources.map((r) => [r.name, r.version]));

    server.cache.setSnapshot("reconnect", [
      ...clusters("a", "d").filter((r) => r.name !== "a"),
      edsCluster("a", 7),
      endpoints("a", 1),
    ]);
    const after = DeltaClient.open(server, "reconnect");
    after.send({ typeUrl: TypeUrl.cluster, initialResourceVersions: { ...versions, gone: "0123" } });
    const resumed = await after.next();
    expect(sent(resumed)).toEqual(["a", "d"]);
    expect(resumed.removedResources.sort()).toEqual(["b", "c", "gone"]);
    after.ack(resumed);
    await after.expectQuiet();
    after.close();
  });

  it("parks a NACKed resource until it changes and records the error", async () => {
    server.cache.setSnapshot("nack", clusters("a"));
    const client = DeltaClient.open(server, "nack");
    client.send({ typeUrl: TypeUrl.cluster });
    client.ack(await client.next());
    server.cache.setSnapshot("nack", [edsCluster("a", 99), endpoints("a", 9000), probe("p")]);
    const bad = await client.next();
    client.send({
      typeUrl: TypeUrl.cluster,
      responseNonce: bad.nonce,
      errorDetail: { code: 3, message: "a: timeout above our limit" },
    });
    await client.expectQuiet();
    server.cache.setSnapshot("nack", [edsCluster("a", 99), endpoints("a", 9000), probe("p")]);
    await client.expectQuiet();
    const status = server.server.proxyStatus().find((p) => p.nodeId === "nack");
    expect(status?.kind).toBe("ads-delta");
    expect(status?.types.find((t) => t.typeUrl === TypeUrl.cluster)?.lastNack?.error).toBe(
      "a: timeout above our limit",
    );
    server.cache.setSnapshot("nack", clusters("a"));
    expect(sent(await client.next())).toEqual(["a"]);
    client.close();
  });

  it("removes clusters routes no longer use only after the route update was ACKed", async () => {
    const view = (clusterNames: string[], target: string) => [
      apiListener("l", "r"),
      routes("r", target),
      ...clusters(...clusterNames),
    ];
    server.cache.setSnapshot("stale-clusters", view(["a", "b"], "b"));
    const client = DeltaClient.open(server, "stale-clusters");
    client.send({ typeUrl: TypeUrl.cluster });
    client.send({ typeUrl: TypeUrl.route, resourceNamesSubscribe: ["r"] });
    for (let i = 0; i < 2; i++) client.ack(await client.next());
    await client.expectQuiet();

    server.cache.setSnapshot("stale-clusters", view(["a"], "a"));
    const moved = await client.next();
    expect(moved.typeUrl).toBe(TypeUrl.route);
    await client.expectQuiet();
    client.ack(moved);
    const removal = await client.next();
    expect(removal.typeUrl).toBe(TypeUrl.cluster);
    expect(removal.removedResources).toEqual(["b"]);
    client.close();
  });

  it("removes a destination's endpoints, like its cluster, only after the route that pointed at it moved", async () => {
    const view = (clusterNames: string[], target: string) => [
      apiListener("l", "r"),
      routes("r", target),
      ...clusters(...clusterNames),
    ];
    server.cache.setSnapshot("stale-endpoints", view(["a", "b"], "b"));
    // As Envoy subscribes: CDS and LDS wildcard, EDS and RDS by name.
    const client = DeltaClient.open(server, "stale-endpoints");
    client.send({ typeUrl: TypeUrl.cluster });
    client.send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ["a", "b"] });
    client.send({ typeUrl: TypeUrl.listener });
    client.send({ typeUrl: TypeUrl.route, resourceNamesSubscribe: ["r"] });
    for (let i = 0; i < 4; i++) client.ack(await client.next());
    await client.expectQuiet();

    server.cache.setSnapshot("stale-endpoints", view(["a"], "a"));
    // Envoy empties a cluster whose ClusterLoadAssignment is removed: while the route still points
    // at "b", that would fail its requests. The route moves first.
    const moved = await client.next();
    expect(moved.typeUrl).toBe(TypeUrl.route);
    await client.expectQuiet();
    client.ack(moved);
    const clusterRemoval = await client.next();
    expect([clusterRemoval.typeUrl, clusterRemoval.removedResources]).toEqual([TypeUrl.cluster, ["b"]]);
    const endpointRemoval = await client.next();
    expect([endpointRemoval.typeUrl, endpointRemoval.removedResources]).toEqual([TypeUrl.endpoint, ["b"]]);
    client.ack(clusterRemoval);
    client.ack(endpointRemoval);
    await client.expectQuiet();
    client.close();
  });
});
