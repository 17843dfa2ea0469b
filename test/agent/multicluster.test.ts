// Two workload clusters (east, west), each with its own `gantry agent` and a Go gRPC xDS client
// attached to that agent, and two `gantry server` replicas on one redis-server: real processes on
// loopback. The story runs in order, each step on the state the previous one left:
// apply at the server → both clusters' clients follow; a replica dies → the agents move to the other
// within 5 s, no call fails, no proxy is re-sent anything; every server down → clients keep routing,
// a restarted agent serves from its data dir and says since when it is stale; servers back → the
// agents converge and no proxy sees a push.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResourceDocument } from "../../src/store/index.js";
import { type Backend, startBackend } from "../interop/backends.js";
import { clientCommand, type InteropClient, startClient } from "../interop/clients.js";
import { type Fleet, metric, readyz, startFleet, startReplica, yamlDocuments } from "../support/fleet.js";
import { haveRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

const clusters = ["east", "west"] as const;
type Cluster = (typeof clusters)[number];

/** Each cluster's own Destination `echo`, on its own backend: stored at the server as `echo.<cluster>`. */
function discovered(port: number): string {
  return `apiVersion: gantry/v1
kind: Destination
metadata: { name: echo, namespace: mc }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
`;
}

/** Per cluster, a proxyless Gateway placed in it and a route to its own `echo`; `extra` adds a host to both. */
function world(extra = false): ResourceDocument[] {
  const text = clusters
    .map(
      (c) => `---
apiVersion: gantry/v1
kind: Gateway
metadata: { name: ${c}, namespace: mc }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: mc, gantry.io/cluster: ${c} } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: echo-${c}, namespace: mc }
spec:
  hosts: [echo.test${extra ? ", extra.test" : ""}]
  gateways: [{ name: ${c} }]
  http:
    - forwardTo: { destinations: [{ destination: { name: echo.${c} } }] }
`,
    )
    .join("");
  return yamlDocuments(text);
}

describe.skipIf(!haveRedis() || clientCommand("go") === undefined)(
  "gantry agent in two clusters, two server replicas",
  () => {
    let fleet: Fleet<Cluster>;
    const backends = new Map<Cluster, Backend>();
    const goClients = new Map<Cluster, InteropClient>();

    const call = async (cluster: Cluster, target = "echo.test") => {
      const client = goClients.get(cluster);
      if (!client) throw new Error(`no client in ${cluster}`);
      return client.run({ target: `xds:///${target}`, calls: 1 });
    };
    const routesToOwnCluster = async (cluster: Cluster, target = "echo.test") =>
      (await call(cluster, target)).backends[cluster] === 1;
    const pushes = async (cluster: Cluster) => metric(fleet.agent(cluster).metricsPort, "gantry_xds_pushes_total");

    beforeAll(async () => {
      fleet = await startFleet({ name: "multicluster", clusters, replicas: ["first", "second"], world: world() });
      // Each agent registered with a token from `gantry cluster add`, then holds the relay over mTLS.
      for (const c of clusters) {
        backends.set(c, await startBackend(c));
        await writeFile(join(fleet.dir(c), "discovery", "echo.yaml"), discovered(backends.get(c)?.port ?? 0));
      }
      for (const c of clusters) await fleet.startAgent(c);
      for (const c of clusters) {
        const client = await startClient("go", fleet.bootstrap(c, { nodeId: `client-${c}`, labels: { app: "mc" } }));
        if (!client) throw new Error("the Go client is not built");
        goClients.set(c, client);
      }
    }, 180_000);

    afterAll(async () => {
      for (const client of goClients.values()) await client.stop().catch(() => {});
      await fleet?.stop();
      for (const backend of backends.values()) await backend.stop();
    });

    it("sends each cluster's Destinations up and routes each cluster's clients to their own backend", async () => {
      for (const c of clusters) {
        await waitFor(() => routesToOwnCluster(c), { timeoutMs: 60_000, what: `the ${c} client's first routed call` });
      }
      const stored = (await fleet.store.list({ kind: "Destination" })).map((r) => `${r.key.namespace}/${r.key.name}`);
      expect(stored).toEqual(["mc/echo.east", "mc/echo.west"]);
    }, 90_000);

    it("an apply at the server reaches the clients of both clusters", async () => {
      const started = performance.now();
      await fleet.store.apply(world(true));
      const reached = await Promise.all(
        clusters.map(async (c) => {
          await waitFor(() => routesToOwnCluster(c, "extra.test"), {
            timeoutMs: 15_000,
            what: `${c} to route extra.test`,
          });
          return Math.round(performance.now() - started);
        }),
      );
      console.log(`apply → routed in both clusters: east ${reached[0]} ms, west ${reached[1]} ms`);
    }, 30_000);

    it("a replica dies: each agent is back on the other within 5 s, no call fails, no proxy is pushed anything", async () => {
      const before = await Promise.all(clusters.map(pushes));
      let loading = true;
      const failed: string[] = [];
      const load = Promise.all(
        clusters.map(async (c) => {
          while (loading) {
            const r = await goClients.get(c)?.run({ target: "xds:///echo.test", calls: 10, concurrency: 2 });
            if (r && r.backends[c] !== 10) failed.push(`${c}: ${JSON.stringify(r)}`);
          }
        }),
      );
      try {
        const [first] = fleet.replicas;
        if (!first) throw new Error("no replica");
        first.process.child.kill("SIGKILL");
        const killedAt = performance.now();
        await waitFor(() => first.process.exited, { what: "the first replica to die" });
        for (const c of clusters) {
          const port = fleet.agent(c).metricsPort;
          await waitFor(
            async () => (await readyz(port)).includes(`connected to 127.0.0.1:${fleet.replicas[1]?.relayPort}`),
            {
              timeoutMs: 5_000,
              what: `the ${c} agent to reconnect to the second replica`,
            },
          );
        }
        console.log(`agents reconnected ${Math.round(performance.now() - killedAt)} ms after the kill`);
        // The second replica took both agents (its own relay metric), and confirmed their output.
        await waitFor(async () => (await metric(fleet.replicas[1]?.metricsPort ?? 0, "gantry_relay_agents")) === 2, {
          what: "both agents on the second replica",
        });
      } finally {
        loading = false;
        await load;
      }
      expect(failed).toEqual([]);
      expect(await Promise.all(clusters.map(pushes))).toEqual(before);
    }, 60_000);

    it("every server down: clients keep routing; a restarted agent serves from its data dir, stale since the outage", async () => {
      const [, second] = fleet.replicas;
      if (!second) throw new Error("no replica");
      second.process.child.kill("SIGKILL");
      await waitFor(() => second.process.exited, { what: "the second replica to die" });
      for (const c of clusters) {
        await waitFor(async () => /stale since \d{4}-/.test(await readyz(fleet.agent(c).metricsPort)), {
          what: `the ${c} agent to report stale`,
        });
        expect(await metric(fleet.agent(c).metricsPort, "gantry_agent_stale_since_seconds")).toBeGreaterThan(0);
        expect(await routesToOwnCluster(c)).toBe(true);
      }
      // The east agent restarts on its ports with no server anywhere: it serves its last-known-good output.
      const east = fleet.agent("east");
      await east.process.stop();
      await fleet.startAgent("east", { xdsPort: east.xdsPort, metricsPort: east.metricsPort });
      const status = await readyz(east.metricsPort);
      expect(status).toMatch(/^ready\n/);
      expect(status).toMatch(/relay: not connected/);
      expect(status).toMatch(/stale since \d{4}-/);
      await waitFor(() => routesToOwnCluster("east"), {
        timeoutMs: 30_000,
        what: "east to route from the restarted agent",
      });
      await waitFor(() => routesToOwnCluster("east", "extra.test"), {
        what: "east to route the applied host from disk",
      });
    }, 90_000);

    it("servers back: the agents converge and no proxy is pushed anything", async () => {
      const before = await Promise.all(clusters.map(pushes));
      for (const [i, replica] of fleet.replicas.entries()) {
        fleet.replicas[i] = await startReplica(replica.name, fleet.redis.url, replica);
      }
      for (const c of clusters) {
        const port = fleet.agent(c).metricsPort;
        await waitFor(async () => !(await readyz(port)).includes("stale since"), {
          timeoutMs: 15_000,
          what: `the ${c} agent to be current again`,
        });
        expect(await metric(port, "gantry_agent_stale_since_seconds")).toBe(0);
        expect(await routesToOwnCluster(c)).toBe(true);
      }
      expect(await Promise.all(clusters.map(pushes))).toEqual(before);
      // What the agents took from the returning servers: a confirmation, nothing to apply.
      for (const c of clusters) {
        expect(
          await metric(fleet.agent(c).metricsPort, "gantry_agent_outputs_total", 'result="unchanged"'),
        ).toBeGreaterThan(0);
      }
    }, 120_000);
  },
);
