// Multi-cluster routing with real gRPC xDS clients, Go gRPC and grpc-js-xds
// (docs/multicluster-routing.md): two workload
// clusters, `east` and `west`, as node metadata in the clients' bootstraps (`gantry bootstrap
// --cluster`), each with its own grpc-js backends behind a Destination placed in it, and one
// VirtualDestination over both. Each client uses its own cluster's backends, fails over to the other
// cluster when its own are marked unhealthy or stopped, and comes back when they recover.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { untilServedBy as servedBy, virtualDestinationWorld, yamlDocuments } from "../support/fleet.js";
import { type Backend, startBackend } from "./backends.js";
import { type CallResults, type ClientKind, clientCommand, type InteropClient, startClient } from "./clients.js";

const logger = createLogger({ service: "test", level: "silent" });
const target = "xds:///svc.global";

interface World {
  east: number[];
  west: number[];
  /** Marks east's endpoints UNHEALTHY in its Destination (what its agent would report). */
  eastUnhealthy?: boolean;
}

/** The VirtualDestination over both clusters' `svc`, and each cluster's Destination placed in it. */
function world({ east, west, eastUnhealthy }: World): ResourceDocument[] {
  const endpoints = (ports: number[], health = "") =>
    ports.map((p) => `{ address: 127.0.0.1, port: ${p}${health ? `, health: ${health}` : ""} }`).join(", ");
  return [
    ...virtualDestinationWorld(["east", "west"]),
    ...yamlDocuments(`apiVersion: gantry/v1
kind: Destination
metadata: { name: svc-east, namespace: mc, labels: { app: svc }, clusters: [east] }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [${endpoints(east, eastUnhealthy ? "UNHEALTHY" : "")}]
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: svc-west, namespace: mc, labels: { app: svc }, clusters: [west] }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [${endpoints(west)}]
`),
  ];
}

/** The cluster of a backend, by its name (`east-1`, `west-1`, …). */
const clusterOf = (backend: string) => backend.split("-")[0] ?? backend;

/** Which clusters' backends answered. */
function clustersOf(results: CallResults): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [backend, count] of Object.entries(results.backends)) {
    out[clusterOf(backend)] = (out[clusterOf(backend)] ?? 0) + count;
  }
  return out;
}

/** The clients that read EDS priorities and endpoint health (Go gRPC, grpc-js-xds). */
const kinds = (["go", "grpc-js"] as const).filter((kind) => clientCommand(kind) !== undefined);

describe.each(kinds)("VirtualDestination failover, %s xDS clients", (kind: ClientKind) => {
  const store = new MemoryStore();
  let server: ManagementServer;
  const backends = new Map<string, Backend>();
  const clients: Partial<Record<"east" | "west", InteropClient>> = {};
  let ports: World;

  const apply = async (options: Partial<World> = {}) => {
    await store.apply(world({ ...ports, ...options }));
    await server.settle();
  };
  const client = (cluster: "east" | "west"): InteropClient => {
    const c = clients[cluster];
    if (!c) throw new Error(`no ${cluster} client`);
    return c;
  };
  /** Waits until a batch of calls from `from` all succeed on `to`'s backends. */
  const untilServedBy = (from: "east" | "west", to: "east" | "west", what: string) =>
    servedBy(() => client(from).run({ target, calls: 10, timeoutMs: 2_000 }), to, what, clusterOf);

  beforeAll(async () => {
    for (const name of ["east-1", "east-2", "west-1"]) backends.set(name, await startBackend(name));
    const portOf = (name: string) => backends.get(name)?.port ?? 0;
    ports = { east: [portOf("east-1"), portOf("east-2")], west: [portOf("west-1")] };
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
    await apply();
    for (const cluster of ["east", "west"] as const) {
      const bootstrap = buildGrpcBootstrap({
        nodeId: `mc-${kind}-${cluster}`,
        labels: { app: "mc" },
        cluster,
        xdsHost: "127.0.0.1",
        xdsPort: server.xdsPort,
      });
      const started = await startClient(kind, bootstrap);
      if (!started) throw new Error(`the ${kind} client is not built`);
      clients[cluster] = started;
    }
  }, 150_000);

  afterAll(async () => {
    await Promise.all(Object.values(clients).map((c) => c?.stop()));
    await server?.stop();
    await Promise.all([...backends.values()].map((b) => b.stop()));
  });

  // Each test waits up to 60 s per step (untilServedBy); the test's own limit is above their sum.
  it("routes each client to its own cluster's backends", { timeout: 150_000 }, async () => {
    await untilServedBy("east", "east", "the east client's first calls");
    await untilServedBy("west", "west", "the west client's first calls");
    const east = await client("east").run({ target, calls: 40, concurrency: 4 });
    expect(clustersOf(east)).toEqual({ east: 40 });
    // Round robin over both east backends: both answer.
    expect(Object.keys(east.backends).sort()).toEqual(["east-1", "east-2"]);
    expect(clustersOf(await client("west").run({ target, calls: 20 }))).toEqual({ west: 20 });
  });

  it("fails over to west while east's endpoints are marked unhealthy, and comes back", {
    timeout: 150_000,
  }, async () => {
    await apply({ eastUnhealthy: true });
    await untilServedBy("east", "west", "the east client to fail over to west");
    expect(clustersOf(await client("west").run({ target, calls: 10 }))).toEqual({ west: 10 });
    await apply({ eastUnhealthy: false });
    await untilServedBy("east", "east", "the east client to come back to east");
  });

  it("fails over to west while east's backends are stopped, and comes back when they restart", {
    timeout: 150_000,
  }, async () => {
    const eastNames = ["east-1", "east-2"];
    for (const name of eastNames) await backends.get(name)?.stop();
    await untilServedBy("east", "west", "the east client to fail over to west after east's backends stopped");
    for (const name of eastNames) {
      const port = backends.get(name)?.port ?? 0;
      backends.set(name, await startBackend(name, undefined, port));
    }
    // gRPC reconnects with exponential backoff (1 s, ×1.6): the wait is bounded by untilServedBy's 60 s.
    await untilServedBy("east", "east", "the east client to return to east's restarted backends");
    expect(clustersOf(await client("west").run({ target, calls: 10 }))).toEqual({ west: 10 });
  });
});
