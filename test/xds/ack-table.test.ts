import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import type { ClientResourceStatus } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { apiListener, routes } from "./fixtures.js";
import { DeltaClient, probe, SotwClient, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** Two proxyless targets, each with its listener and route configuration. */
function targets(aCluster = "a-backend"): XdsResource[] {
  return [
    apiListener("a.example", "rc-a"),
    apiListener("b.example", "rc-b"),
    routes("rc-a", aCluster),
    routes("rc-b", "b-backend"),
    probe("p"),
  ];
}

const L = TypeUrl.listener;

function rows(nodeId: string): Array<[string, string, number]> {
  return server.server
    .ackTable()
    .resources.filter((r) => r.nodeId === nodeId && r.typeUrl === L)
    .map((r) => [r.name, r.state, r.streams]);
}

function row(nodeId: string, name: string): ClientResourceStatus | undefined {
  return server.server.ackTable().resources.find((r) => r.nodeId === nodeId && r.name === name);
}

describe("ACK table over real ADS streams", () => {
  it("two SotW streams of one node with different subsets, then a delta wildcard stream", async () => {
    server.cache.setSnapshot("per-target", targets());
    const first = SotwClient.open(server, "per-target");
    first.send({ typeUrl: L, resourceNames: ["a.example"] });
    const a = await first.next();
    const second = SotwClient.open(server, "per-target");
    second.send({ typeUrl: L, resourceNames: ["b.example"] });
    const b = await second.next();
    first.ack(a, ["a.example"]);
    await first.expectQuiet();
    // b is sent, not ACKed yet; no stream asked for the route configurations: they are not counted.
    expect(rows("per-target")).toEqual([
      ["a.example", "in-sync", 1],
      ["b.example", "pending", 1],
    ]);
    expect(row("per-target", "b.example")).toMatchObject({ sent: true, clientVersion: "" });
    second.ack(b, ["b.example"]);
    await second.expectQuiet();
    expect(rows("per-target")).toEqual([
      ["a.example", "in-sync", 1],
      ["b.example", "in-sync", 1],
    ]);

    const delta = DeltaClient.open(server, "per-target");
    delta.send({ typeUrl: L });
    const all = await delta.next();
    await waitFor(() => row("per-target", "a.example")?.streams === 2, { timeoutMs: 2_000 });
    expect(rows("per-target").map(([name, state]) => [name, state])).toEqual([
      ["a.example", "pending"],
      ["b.example", "pending"],
    ]);
    delta.ack(all);
    await delta.expectQuiet();
    expect(rows("per-target")).toEqual([
      ["a.example", "in-sync", 2],
      ["b.example", "in-sync", 2],
    ]);
    const client = server.server.ackTable().clients.find((c) => c.nodeId === "per-target");
    // The summary counts every type subscribed, the harness's probes too.
    expect(client).toMatchObject({ streams: ["ads-delta", "ads-sotw", "ads-sotw"], nacked: 0 });
    for (const s of [first, second, delta]) s.close();
    await waitFor(() => !server.server.ackTable().clients.some((c) => c.nodeId === "per-target"), {
      timeoutMs: 2_000,
    });
  });

  it("a NACK naming one resource marks that one, with the error and the time it was first refused", async () => {
    server.cache.setSnapshot("nacker", targets());
    const client = SotwClient.open(server, "nacker");
    client.send({ typeUrl: TypeUrl.route, resourceNames: ["rc-a", "rc-b"] });
    const good = await client.next();
    client.ack(good, ["rc-a", "rc-b"]);
    await client.expectQuiet();
    server.clock.advance(5_000);
    const refusedAt = server.clock.now();
    server.cache.setSnapshot("nacker", targets("broken"));
    const bad = await client.next();
    client.nack(bad, good.versionInfo, 'route configuration "rc-a": cluster broken is unknown', ["rc-a", "rc-b"]);
    await client.expectQuiet();
    const rc = (name: string) => row("nacker", name);
    expect(rc("rc-a")).toMatchObject({
      state: "nacked",
      error: 'route configuration "rc-a": cluster broken is unknown',
      since: refusedAt,
      // It still runs the version it ACKed before.
      clientVersion: routes("rc-a", "a-backend").version,
      version: routes("rc-a", "broken").version,
    });
    expect(rc("rc-b")?.state).toBe("in-sync");
    expect(server.server.ackTable().clients.find((c) => c.nodeId === "nacker")).toMatchObject({
      nacked: 1,
      lastNack: { typeUrl: TypeUrl.route, at: refusedAt },
    });
    client.close();
  });

  it("a SotW client that reconnects running the current version is in sync without a response", async () => {
    server.cache.setSnapshot("resumer", targets());
    const before = SotwClient.open(server, "resumer");
    before.send({ typeUrl: L });
    const held = await before.next();
    before.ack(held);
    await before.expectQuiet();
    before.close();
    const again = SotwClient.open(server, "resumer");
    again.send({ typeUrl: L, versionInfo: held.versionInfo });
    await again.expectQuiet();
    expect(rows("resumer")).toEqual([
      ["a.example", "in-sync", 1],
      ["b.example", "in-sync", 1],
    ]);
    again.close();
  });
});
