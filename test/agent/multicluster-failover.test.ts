// Cross-cluster failover through agents (#19): two `gantry server` replicas on one redis-server,
// agents `east` and `west`, and in each cluster a grpc-js backend, known to its agent's discovery as
// the Destination `svc`, and a Go gRPC xDS client attached to its own agent. The server holds one
// VirtualDestination over both clusters' `svc`: east's client uses east's backend, fails over to
// west's when east's is stopped (or its agent reports it UNHEALTHY), and returns when it recovers.
// All real processes on loopback; every wait is bounded on a condition.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Backend, startBackend } from "../interop/backends.js";
import { clientCommand, type InteropClient, startClient } from "../interop/clients.js";
import { type Fleet, startFleet, untilServedBy, virtualDestinationWorld } from "../support/fleet.js";
import { haveRedis } from "../support/redis.js";

const clusters = ["east", "west"] as const;
type Cluster = (typeof clusters)[number];

/** What each agent discovers: its cluster's `svc` (stored at the server as `svc.<cluster>`, placed there). */
function discovered(port: number, health = ""): string {
  return `apiVersion: gantry/v1
kind: Destination
metadata: { name: svc, namespace: mc, labels: { app: svc } }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${port}${health ? `, health: ${health}` : ""} }]
`;
}

describe.skipIf(!haveRedis() || clientCommand("go") === undefined)(
  "VirtualDestination failover through agents in two clusters",
  () => {
    let fleet: Fleet<Cluster>;
    const backends = new Map<Cluster, Backend>();
    const clients = new Map<Cluster, InteropClient>();

    const client = (cluster: Cluster): InteropClient => {
      const found = clients.get(cluster);
      if (!found) throw new Error(`no client in ${cluster}`);
      return found;
    };
    /** Waits until a batch of calls from `from` to `host` all succeed on `to`'s backend; returns the ms it took. */
    const servedBy = (from: Cluster, to: Cluster, what: string, host = "svc.global") =>
      untilServedBy(() => client(from).run({ target: `xds:///${host}`, calls: 10, timeoutMs: 2_000 }), to, what);
    const discover = (cluster: Cluster, health = "") =>
      writeFile(
        join(fleet.dir(cluster), "discovery", "svc.yaml"),
        discovered(backends.get(cluster)?.port ?? 0, health),
      );

    beforeAll(async () => {
      fleet = await startFleet({
        name: "mc-failover",
        clusters,
        replicas: ["first", "second"],
        world: virtualDestinationWorld(clusters),
      });
      for (const c of clusters) {
        backends.set(c, await startBackend(c));
        await discover(c);
      }
      for (const c of clusters) await fleet.startAgent(c);
      for (const c of clusters) {
        const started = await startClient("go", fleet.bootstrap(c, { nodeId: `failover-${c}`, labels: { app: "mc" } }));
        if (!started) throw new Error("the Go client is not built");
        clients.set(c, started);
      }
    }, 180_000);

    afterAll(async () => {
      for (const c of clients.values()) await c.stop().catch(() => {});
      await fleet?.stop();
      for (const backend of backends.values()) await backend.stop();
    });

    it("each cluster's client uses its own cluster's backend, from Destinations its agent discovered", async () => {
      await servedBy("east", "east", "the east client's first calls");
      await servedBy("west", "west", "the west client's first calls");
      // The agents' Destinations are stored placed in their clusters: that is what makes them members.
      const stored = await fleet.store.list({ kind: "Destination" });
      expect(stored.map((r) => [r.key.name, r.document.metadata["clusters"]])).toEqual([
        ["svc.east", ["east"]],
        ["svc.west", ["west"]],
      ]);
    }, 150_000);

    it("an apply at the server reaches the clients of both clusters", async () => {
      const started = performance.now();
      await fleet.store.apply(virtualDestinationWorld(clusters, ["svc.global", "again.global"]));
      const reached = await Promise.all(
        clusters.map(async (c) => {
          await servedBy(c, c, `${c} to route again.global`, "again.global");
          return Math.round(performance.now() - started);
        }),
      );
      console.log(`apply → routed in both clusters: east ${reached[0]} ms, west ${reached[1]} ms`);
    }, 150_000);

    it("east's backend stopped: east's client fails over to west, and returns when it restarts", async () => {
      const east = backends.get("east");
      if (!east) throw new Error("no east backend");
      await east.stop();
      const away = await servedBy("east", "west", "the east client to fail over to west");
      // West's own client never left west.
      expect((await client("west").run({ target: "xds:///svc.global", calls: 10 })).backends).toEqual({ west: 10 });
      backends.set("east", await startBackend("east", undefined, east.port));
      // gRPC reconnects with its backoff (1 s, ×1.6): bounded by untilServedBy's 60 s.
      const back = await servedBy("east", "east", "the east client to return to east's restarted backend");
      console.log(`east stopped → served by west in ${away} ms; restarted → back in ${back} ms`);
    }, 150_000);

    it("east's agent reports its endpoint UNHEALTHY: east's client fails over through the relay, and returns", async () => {
      let started = performance.now();
      await discover("east", "UNHEALTHY");
      await servedBy("east", "west", "the east client to leave east's unhealthy endpoint");
      const away = Math.round(performance.now() - started);
      started = performance.now();
      await discover("east", "HEALTHY");
      await servedBy("east", "east", "the east client to come back to east");
      const back = Math.round(performance.now() - started);
      console.log(`discovery UNHEALTHY → clients moved in ${away} ms; HEALTHY → back in ${back} ms`);
    }, 150_000);
  },
);
