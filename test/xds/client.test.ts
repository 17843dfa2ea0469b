import { afterEach, describe, expect, it } from "vitest";
import { encodeResource, TypeUrl, typeUrlOf } from "../../src/envoy/index.js";
import { type Cluster, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { ManualClock, systemClock, type Timers } from "../../src/lib/clock.js";
import { retryDelay, SnapshotCache, startXdsServer, XdsClient, type XdsServer } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { edsCluster, endpoints } from "./fixtures.js";
import { logger } from "./harness.js";

const rateLimitType = typeUrlOf(RateLimitConfigSchema.typeName);

describe("retryDelay", () => {
  it("grows exponentially to the cap, scaled by the jitter", () => {
    const backoff = { initialMs: 100, maxMs: 1_000 };
    expect([0, 1, 2, 3, 4, 10].map((attempt) => retryDelay(attempt, backoff, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(retryDelay(3, backoff, () => 0.5)).toBe(400);
    expect(retryDelay(3, backoff, () => 0)).toBe(0);
  });
});

describe("XdsClient against our xDS server", () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function serve(cache: SnapshotCache, port = 0): Promise<XdsServer> {
    const server = await startXdsServer({ cache, host: "127.0.0.1", port, logger });
    stops.push(() => server.stop(200));
    return server;
  }

  function client(port: number, nodeId: string, clock: Timers = systemClock): XdsClient {
    const xds = new XdsClient({
      server: `127.0.0.1:${port}`,
      node: { id: nodeId },
      logger,
      backoff: { initialMs: 20, maxMs: 200 },
      random: () => 0.5,
      clock,
    });
    stops.push(() => xds.stop());
    return xds;
  }

  it("subscribes by type URL, hands over decoded resources, and ACKs", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("ratelimit", [
      encodeResource(RateLimitConfigSchema, { name: "api", domain: "api" }),
      encodeResource(RateLimitConfigSchema, { name: "web", domain: "web" }),
    ]);
    const server = await serve(cache);
    const xds = client(server.port, "ratelimit");
    const seen: string[][] = [];
    xds.subscribe(RateLimitConfigSchema, {
      onUpdate: (resources) => {
        seen.push([...resources.values()].map((config) => config.domain).sort());
      },
    });
    xds.start();
    await waitFor(() => seen.length === 1, { what: "the first update" });
    expect(seen[0]).toEqual(["api", "web"]);
    const version = xds.accepted(rateLimitType)?.version;
    await waitFor(
      () => server.proxyStatus().find((p) => p.nodeId === "ratelimit")?.types[0]?.acked?.version === version,
      { what: "the server to see the ACK" },
    );
    cache.setSnapshot("ratelimit", [encodeResource(RateLimitConfigSchema, { name: "api", domain: "api2" })]);
    await waitFor(() => seen.length === 2, { what: "the second update" });
    expect(seen[1]).toEqual(["api2"]);
    expect(xds.connected).toBe(true);
  });

  it("NACKs with the handler's error and keeps the last accepted config", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("nacker", [edsCluster("a"), endpoints("a", 1)]);
    const server = await serve(cache);
    const xds = client(server.port, "nacker");
    xds.subscribe(ClusterSchema, {
      names: ["a"],
      onUpdate: (resources) => {
        const a = resources.get("a");
        if (a && (a.connectTimeout?.seconds ?? 0n) > 5n) throw new Error("cluster a: connect timeout above 5 s");
      },
    });
    xds.start();
    await waitFor(() => xds.accepted(TypeUrl.cluster), { what: "the first config" });
    const good = xds.accepted(TypeUrl.cluster);
    cache.setSnapshot("nacker", [edsCluster("a", 60), endpoints("a", 1)]);
    const nack = await waitFor(
      () =>
        server
          .proxyStatus()
          .find((p) => p.nodeId === "nacker")
          ?.types.find((t) => t.typeUrl === TypeUrl.cluster)?.lastNack,
      { what: "the NACK" },
    );
    expect(nack.error).toContain("cluster a: connect timeout above 5 s");
    expect(xds.accepted(TypeUrl.cluster)).toBe(good);
    expect((xds.accepted(TypeUrl.cluster)?.resources.get("a") as Cluster | undefined)?.connectTimeout?.seconds).toBe(
      1n,
    );
  });

  it("reconnects after the server goes away, after the backoff, keeping its config meanwhile", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("mover", [edsCluster("a"), endpoints("a", 1)]);
    const first = await serve(cache);
    const port = first.port;
    const clock = new ManualClock(0);
    const xds = client(port, "mover", clock);
    const versions: string[] = [];
    xds.subscribe(ClusterSchema, { onUpdate: (_resources, version) => void versions.push(version) });
    xds.start();
    await waitFor(() => xds.connected, { what: "the client to connect" });
    await first.stop(100);
    await waitFor(() => !xds.connected, { what: "the client to notice" });
    expect(xds.accepted(TypeUrl.cluster)?.resources.has("a")).toBe(true);

    cache.setSnapshot("mover", [edsCluster("a"), endpoints("a", 1), edsCluster("b"), endpoints("b", 2)]);
    await serve(cache, port);
    // The first retry waits half (the jitter) of the initial 20 ms, and not a millisecond less.
    expect(clock.pendingTimers).toBe(1);
    clock.advance(9);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1);
    expect(clock.pendingTimers).toBe(0);
    // The channel may still be backing off on its own and refuse that stream: later retries follow the clock.
    await waitFor(
      () => {
        clock.advance(200);
        return xds.accepted(TypeUrl.cluster)?.resources.has("b");
      },
      { timeoutMs: 10_000, what: "the new config" },
    );
    expect(versions).toHaveLength(2);
    expect(xds.connected).toBe(true);
  });
});
