// Reconnecting to a second `gantry server` replica, for every real gRPC xDS client of the conformance
// matrix: two server processes on one Redis store; the first is killed (SIGKILL) under load. Two ways
// to point a client at both, each its own test:
// - the bootstrap lists both in xds_servers (gRFC A71 fallback). A client falls back only for a
//   resource it has not cached: cached targets keep serving their last config (and see no change
//   until the first is back), a new target resolves through the second. grpc-js-xds has no fallback.
// - one address in front of both (a Kubernetes Service, a load balancer; here a TCP forwarder): the
//   client's ADS stream reconnects to the second, and changes keep reaching it.
import { createServer, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { RedisStore, type ResourceDocument } from "../../src/store/index.js";
import { freePort, freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";
import { type Backend, startBackend } from "./backends.js";
import {
  type CallResults,
  type ClientKind,
  clientCommand,
  clientKinds,
  type InteropClient,
  startClient,
} from "./clients.js";
import { gatewayLabels, type Ports, type WorldOptions, world } from "./world.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const OK = "0";

/** Whether the client implements gRFC A71 (several xds_servers, fallback to the next). */
const fallsBack: Record<ClientKind, boolean> = { "grpc-js": false, go: true, grpcio: true, java: true };

interface Replica {
  readonly xdsPort: number;
  readonly process: ManagedProcess;
  /** Proxy streams connected to this replica, from its /metrics. */
  connected(): Promise<number>;
}

/** A replica on its own three ports (drawn by the caller, so that replicas started together never share one). */
async function startReplica(
  name: string,
  redisUrl: string,
  [xdsPort, apiPort, metricsPort]: readonly [number, number, number],
): Promise<Replica> {
  const process = await startProcess({
    name: `gantry server ${name}`,
    command: globalThis.process.execPath,
    args: [
      bin,
      "server",
      ...["--host", "127.0.0.1", "--redis-url", redisUrl, "--insecure-api", "--server-name", name],
      ...["--xds-port", String(xdsPort), "--api-port", String(apiPort), "--metrics-port", String(metricsPort)],
      ...["--log-level", "warn"],
    ],
    ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
    // Generous: on a loaded machine a Node process can take tens of seconds to start.
    readyTimeoutMs: 60_000,
  });
  return {
    xdsPort,
    process,
    async connected() {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text
        .split("\n")
        .filter((line) => line.startsWith("gantry_xds_connected_proxies"))
        .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    },
  };
}

/** One address in front of the replicas: each connection goes to the first replica that accepts it. */
async function startForwarder(replicas: readonly Replica[]): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const forward = (downstream: Socket, index: number) => {
    const replica = replicas[index];
    if (!replica) {
      downstream.destroy();
      return;
    }
    const upstream = tcpConnect(replica.xdsPort, "127.0.0.1");
    open.add(upstream);
    upstream.once("connect", () => {
      downstream.pipe(upstream).pipe(downstream);
      upstream.on("error", () => downstream.destroy());
      upstream.on("close", () => downstream.destroy());
    });
    upstream.once("error", () => {
      open.delete(upstream);
      if (upstream.readyState === "opening" || !upstream.remoteAddress) forward(downstream, index + 1);
    });
  };
  const server = createServer((downstream) => {
    open.add(downstream);
    downstream.on("error", () => {});
    downstream.on("close", () => open.delete(downstream));
    forward(downstream, 0);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(!haveRedis())("reconnecting to a second gantry server replica", () => {
  let redis: RedisServer;
  let store: RedisStore;
  const backends: Backend[] = [];
  let ports: Ports;
  const stops: Array<() => Promise<void>> = [];

  const applyWorld = async (options: WorldOptions = {}) => {
    await store.apply(parseAllDocuments(world(ports, options)).map((d) => d.toJSON() as ResourceDocument));
  };

  /** Two fresh replicas on the store, stopped after the test. */
  const twoReplicas = async (): Promise<[Replica, Replica]> => {
    const [x1, a1, m1, x2, a2, m2] = await freePorts(6);
    const started = await Promise.allSettled([
      startReplica("first", redis.url, [x1, a1, m1]),
      startReplica("second", redis.url, [x2, a2, m2]),
    ]);
    // One that started is stopped after the test even when the other did not.
    for (const r of started) if (r.status === "fulfilled") stops.push(() => r.value.process.stop());
    const [first, second] = started;
    if (first.status === "rejected") throw first.reason;
    if (second.status === "rejected") throw second.reason;
    return [first.value, second.value];
  };

  /** A client whose bootstrap lists `servers` (host:port), after its first routed call. */
  const client = async (kind: ClientKind, nodeId: string, servers: string[]): Promise<InteropClient> => {
    const one = buildGrpcBootstrap({ nodeId, labels: gatewayLabels, xdsHost: "127.0.0.1", xdsPort: 1 });
    const template = one.xds_servers[0];
    if (!template) throw new Error("a gRPC bootstrap without xds_servers");
    const started = await startClient(kind, {
      ...one,
      xds_servers: servers.map((server) => ({ ...template, server_uri: server })),
    });
    if (!started) throw new Error(`the ${kind} client is not built`);
    stops.push(() => started.stop());
    await waitFor(async () => (await started.run({ target: "xds:///change.test", calls: 1 })).backends["a"] === 1, {
      timeoutMs: 60_000,
      what: `the ${kind} client's first routed call`,
    });
    return started;
  };

  /** Keeps `change` under load on every client until `during` resolves; returns each one's results. */
  const underLoad = async (clients: InteropClient[], during: () => Promise<void>): Promise<CallResults[][]> => {
    const results = clients.map((): CallResults[] => []);
    let loading = true;
    const loads = clients.map(async (c, i) => {
      while (loading) results[i]?.push(await c.run({ target: "xds:///change.test", calls: 20, concurrency: 4 }));
    });
    try {
      await waitFor(() => results.every((r) => r.length >= 2), { what: "load before the kill" });
      await during();
      const after = results.map((r) => r.length);
      await waitFor(() => results.every((r, i) => r.length >= (after[i] ?? 0) + 3), { what: "calls at the end" });
    } finally {
      loading = false;
      await Promise.all(loads);
    }
    return results;
  };

  const failures = (results: CallResults[]) => ({
    failed: results.flatMap((r) => Object.entries(r.codes).filter(([code]) => code !== OK)),
    errors: results.flatMap((r) => r.errors).slice(0, 3),
  });

  const kill = async (replica: Replica) => {
    replica.process.child.kill("SIGKILL");
    await waitFor(() => replica.process.exited, { what: "the first replica to die" });
  };

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisStore({ url: redis.url });
    await store.ready();
    backends.push(await startBackend("a"), await startBackend("b"));
    const [a, b] = backends.map((backend) => backend.port) as [number, number];
    ports = { a, b, flaky: a, slow: a, p1: a, p2: b };
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await store?.close();
    await Promise.all(backends.map((b) => b.stop()));
    await redis?.close();
  });

  describe.each(clientKinds.filter((kind) => clientCommand(kind) !== undefined))("%s xDS client", (kind) => {
    it("the first of two replicas dies under load: no failed call; one address keeps changes coming; a second xds_servers entry answers new targets", {
      timeout: 180_000,
    }, async () => {
      await applyWorld();
      const [first, second] = await twoReplicas();
      const forwarder = await startForwarder([first, second]);
      stops.push(() => forwarder.close());
      const [forwarded, listed] = await Promise.all([
        client(kind, `forwarded-${kind}`, [`127.0.0.1:${forwarder.port}`]),
        client(
          kind,
          `fallback-${kind}`,
          [first, second].map((r) => `127.0.0.1:${r.xdsPort}`),
        ),
      ]);
      expect(await second.connected()).toBe(0);
      const [forwardedResults, listedResults] = await underLoad([forwarded, listed], async () => {
        await kill(first);
        // The client behind one address is back on the second replica; the other stays on its cache.
        await waitFor(async () => (await second.connected()) >= 1, {
          timeoutMs: 15_000,
          what: `the ${kind} client behind one address to reconnect to the second replica`,
        });
      });
      expect(failures(forwardedResults ?? [])).toEqual({ failed: [], errors: [] });
      expect(failures(listedResults ?? [])).toEqual({ failed: [], errors: [] });

      // A change to a target both clients have cached, and a target no client can have cached yet.
      const changedAt = performance.now();
      await applyWorld({ changeTo: "b", late: true });
      await waitFor(async () => (await forwarded.run({ target: "xds:///change.test", calls: 1 })).backends["b"] === 1, {
        timeoutMs: 15_000,
        what: `the ${kind} client behind one address to follow a change through the second replica`,
      });
      const changedInMs = Math.round(performance.now() - changedAt);
      const late = () => listed.run({ target: "xds:///late.test", calls: 1, timeoutMs: 3_000 });
      let resolvedInMs: number | undefined;
      if (fallsBack[kind]) {
        await waitFor(async () => (await late()).codes[OK] === 1, {
          timeoutMs: 10_000,
          what: `the ${kind} client with two xds_servers to resolve a new target through the second`,
        });
        resolvedInMs = Math.round(performance.now() - changedAt);
      } else {
        expect((await late()).codes[OK]).toBeUndefined();
      }
      console.info(
        `${kind}: after the kill, through one address a change applied in ${changedInMs} ms; ` +
          `with xds_servers [first, second] a new target resolved in ${resolvedInMs ?? "-"} ms`,
      );
    });
  });
});
