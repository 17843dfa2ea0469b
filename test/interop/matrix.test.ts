// The xDS conformance matrix: one table of scenarios, run against every real gRPC xDS client
// (grpc-js-xds, Go gRPC, grpcio/C-core), each its own process, routed by a real `gantry server`
// to real grpc-js backends. The README's client compatibility table is this file's result.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { XdsResource } from "../../src/envoy/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { parseResources } from "../../src/resources/index.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument, type ResourceStore } from "../../src/store/index.js";
import { State } from "../../src/translate/index.js";
import { overflowingSplit } from "../support/overflowing-split.js";
import { waitFor } from "../support/wait.js";
import { type Backend, startBackend, unavailable } from "./backends.js";
import {
  type CallResults,
  type ClientKind,
  clientCommand,
  clientKinds,
  type InteropClient,
  startClient,
} from "./clients.js";
import { gatewayLabels, type Ports, world } from "./world.js";

const logger = createLogger({ service: "test", level: "silent" });
const OK = "0";
const DEADLINE_EXCEEDED = "4";
const PERMISSION_DENIED = "7";
const UNAVAILABLE = "14";

const store = new MemoryStore();
let server: ManagementServer;
const backends: Record<string, Backend> = {};
let ports: Ports;
/** Sends one client resources past Gantry's validator (the test seam of the server last started). */
let sendUnvalidated: (nodeId: string, resources: readonly XdsResource[] | undefined) => void = () => {};

function documents(yaml: string): ResourceDocument[] {
  return parseAllDocuments(yaml).map((d) => d.toJSON() as ResourceDocument);
}

async function applyWorld(options: Parameters<typeof world>[1] = {}): Promise<void> {
  await store.apply(documents(world(ports, options)));
  await server.settle();
}

/** A server; its test seam becomes `sendUnvalidated` (the restart scenario replaces the first one). */
function startServer(options: { store: ResourceStore; xdsPort: number; registry?: Registry }) {
  return startManagementServer({
    unvalidatedResourcesForTests: (send) => {
      sendUnvalidated = send;
    },
    store: options.store,
    host: "127.0.0.1",
    xdsPort: options.xdsPort,
    apiPort: 0,
    apiToken: undefined,
    insecureApi: true,
    logger,
    registry: options.registry ?? createRegistry("server", { processMetrics: false }),
    debounce: { quietMs: 10, maxDelayMs: 100 },
  });
}

/** The store, except that reading a snapshot waits until `release` is called: a slow first translation. */
function gatedStore(): { store: ResourceStore; release: () => void } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const gated: ResourceStore = {
    apply: (documents) => store.apply(documents),
    delete: (keys) => store.delete(keys),
    get: (key) => store.get(key),
    list: (filter) => store.list(filter),
    snapshot: async () => {
      await gate;
      return store.snapshot();
    },
    watch: (listener) => store.watch(listener),
    close: async () => {},
  };
  return { store: gated, release };
}

const routeTable = (name: string) => ({ kind: "RouteTable", namespace: "interop", name });

/** The `nack` host split evenly, then its weights raised past what a client can sum (and Gantry accepts). */
function nackedRouteConfiguration(): XdsResource {
  const { resources, rejected } = parseResources(world(ports, { nackSplit: true }), "world.yaml");
  if (rejected.length > 0) throw new Error(rejected.flatMap((r) => r.errors).join("\n"));
  return overflowingSplit(resources, "nack.test");
}

/** The NACK errors a client's streams last sent, as the server's proxy status shows them. */
function nackErrors(nodeId: string): string[] {
  return server
    .proxies()
    .filter((p) => p.nodeId === nodeId)
    .flatMap((p) => p.types.flatMap((t) => (t.lastNackError ? [t.lastNackError] : [])));
}

async function connectedProxies(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric("gantry_xds_connected_proxies")?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

beforeAll(async () => {
  let flakyCalls = 0;
  const started = await Promise.all([
    startBackend("a"),
    startBackend("b"),
    // Every other call fails: a retry on UNAVAILABLE always recovers it.
    startBackend("flaky", () => (++flakyCalls % 2 === 1 ? unavailable("flaky") : undefined)),
    startBackend("slow", () => new Promise((resolve) => setTimeout(() => resolve(undefined), 2_000))),
    startBackend("p1"),
    startBackend("p2"),
  ]);
  for (const backend of started) backends[backend.name] = backend;
  const port = (name: string) => backends[name]?.port ?? 0;
  ports = { a: port("a"), b: port("b"), flaky: port("flaky"), slow: port("slow"), p1: port("p1"), p2: port("p2") };
  server = await startServer({ store, xdsPort: 0 });
  await applyWorld();
});

afterAll(async () => {
  await server?.stop();
  await Promise.all(Object.values(backends).map((b) => b.stop()));
});

const share = (results: CallResults, backend: string) =>
  (results.backends[backend] ?? 0) / Object.values(results.backends).reduce((a, b) => a + b, 0);

describe.each(clientKinds.filter((kind) => clientCommand(kind) !== undefined))("%s xDS client", (kind: ClientKind) => {
  let client: InteropClient;
  const run = (target: string, calls: Omit<Parameters<InteropClient["run"]>[0], "target"> = { calls: 1 }) =>
    client.run({ target: `xds:///${target}.test`, ...calls });

  beforeAll(async () => {
    const bootstrap = buildGrpcBootstrap({
      nodeId: `interop-${kind}`,
      labels: gatewayLabels,
      xdsHost: "127.0.0.1",
      xdsPort: server.xdsPort,
    });
    const started = await startClient(kind, bootstrap);
    if (!started) throw new Error(`the ${kind} client is not built`);
    client = started;
    // The first call waits for LDS, RDS, CDS and EDS.
    await waitFor(async () => (await run("routes", { calls: 1, method: "/interop.Echo/Exact" })).codes[OK] === 1, {
      timeoutMs: 30_000,
      what: `the ${kind} client's first routed call`,
    });
  });

  afterAll(async () => {
    await applyWorld();
    await client?.stop();
  });

  it("routes by exact path, RE2 regex and prefix, in route order; no route is UNAVAILABLE", async () => {
    const expectations: Array<[string, string]> = [
      ["/interop.Echo/Exact", "a"],
      ["/interop.Other/R7", "b"],
      ["/interop.Echo/Else", "b"],
      // (?i) is RE2 syntax that JavaScript's RegExp does not have.
      ["/interop.Other/CaseMatch", "a"],
    ];
    for (const [method, backend] of expectations) {
      const results = await run("routes", { calls: 10, method });
      expect({ method, backends: results.backends }).toEqual({ method, backends: { [backend]: 10 } });
    }
    const unrouted = await run("routes", { calls: 3, method: "/interop.Other/x" });
    expect(unrouted.codes).toEqual({ [UNAVAILABLE]: 3 });
  });

  it("routes by header, exact and RE2 regex", async () => {
    expect((await run("headers", { calls: 10, metadata: { "x-variant": "b" } })).backends).toEqual({ b: 10 });
    expect((await run("headers", { calls: 10, metadata: { "x-variant": "b42" } })).backends).toEqual({ b: 10 });
    expect((await run("headers", { calls: 10, metadata: { "x-variant": "c" } })).backends).toEqual({ a: 10 });
    expect((await run("headers", { calls: 10 })).backends).toEqual({ a: 10 });
  });

  it("splits 80/20 by weight within ±5% over 2,000 calls", async () => {
    const results = await run("split", { calls: 2_000, concurrency: 32 });
    expect(results.codes).toEqual({ [OK]: 2_000 });
    expect(Math.abs(share(results, "a") - 0.8)).toBeLessThanOrEqual(0.05);
  });

  it("ends a call at the route timeout with DEADLINE_EXCEEDED", async () => {
    const results = await run("timeout", { calls: 3, concurrency: 3, timeoutMs: 10_000 });
    expect(results.codes).toEqual({ [DEADLINE_EXCEEDED]: 3 });
  });

  it("retries UNAVAILABLE where a retry policy applies, and not elsewhere", async () => {
    expect((await run("retry", { calls: 20 })).codes).toEqual({ [OK]: 20 });
    const noRetry = await run("noretry", { calls: 20 });
    expect(noRetry.codes[UNAVAILABLE]).toBe(10);
  });

  it("aborts with the fault's gRPC status", async () => {
    expect((await run("abort", { calls: 10 })).codes).toEqual({ [PERMISSION_DENIED]: 10 });
  });

  it("delays by the fault's fixed delay", async () => {
    // A 2 s fault delay against a 0.5 s deadline: every call runs out of time; without it they answer at once.
    expect((await run("delay", { calls: 3, concurrency: 3, timeoutMs: 500 })).codes).toEqual({
      [DEADLINE_EXCEEDED]: 3,
    });
  });

  it("applies a route change", async () => {
    expect((await run("change", { calls: 5 })).backends).toEqual({ a: 5 });
    const changedAt = performance.now();
    await applyWorld({ changeTo: "b" });
    await waitFor(async () => (await run("change", { calls: 1 })).backends["b"] === 1, {
      timeoutMs: 10_000,
      what: `the ${kind} client to follow the change`,
    });
    console.info(`${kind}: route change applied in ${Math.round(performance.now() - changedAt)} ms`);
    expect((await run("change", { calls: 10 })).backends).toEqual({ b: 10 });
  });

  it("keeps every call working across a server restart whose first translation is slow", async () => {
    const results: CallResults[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) results.push(await run("split", { calls: 20, concurrency: 4 }));
    })();
    await waitFor(() => results.length >= 2, { what: "load before the restart" });
    const xdsPort = server.xdsPort;
    await server.stop();
    const { store: slow, release } = gatedStore();
    const registry = createRegistry("server", { processMetrics: false });
    const restarting = startServer({ store: slow, xdsPort, registry });
    // The client is back on the restarted server, which has not translated anything yet.
    await waitFor(async () => (await connectedProxies(registry)) >= 1, {
      timeoutMs: 15_000,
      what: `the ${kind} client to reconnect to the restarted server`,
    });
    const duringGap = results.length;
    await waitFor(() => results.length >= duringGap + 3, { what: "calls while the restarted server translates" });
    release();
    server = await restarting;
    const afterRestart = results.length;
    await waitFor(() => results.length >= afterRestart + 3, { what: "calls after the restart" });
    loading = false;
    await load;
    const failed = results.flatMap((r) => Object.entries(r.codes).filter(([code]) => code !== OK));
    expect({ failed, errors: results.flatMap((r) => r.errors).slice(0, 3) }).toEqual({ failed: [], errors: [] });
  });

  it("stops sending to a removed endpoint", async () => {
    await applyWorld({ changeTo: "b" });
    await waitFor(
      async () => Object.keys((await run("endpoints", { calls: 20, concurrency: 4 })).backends).length === 2,
      {
        timeoutMs: 10_000,
        what: "calls to reach both endpoints",
      },
    );
    await applyWorld({ changeTo: "b", pairPorts: [ports.p1] });
    await waitFor(async () => (await run("endpoints", { calls: 20, concurrency: 4 })).backends["p2"] === undefined, {
      timeoutMs: 10_000,
      what: `the ${kind} client to drop the removed endpoint`,
    });
    expect((await run("endpoints", { calls: 20, concurrency: 4 })).backends).toEqual({ p1: 20 });
  });
  it("moves calls off a removed Destination", async () => {
    await applyWorld();
    expect((await run("removal", { calls: 5 })).backends).toEqual({ b: 5 });
    // The route moves to `a` and `extra` is deleted, in two steps as a user would.
    await applyWorld({ removalTo: "a" });
    await store.delete([{ kind: "Destination", namespace: "interop", name: "extra" }]);
    await server.settle();
    await waitFor(async () => (await run("removal", { calls: 1 })).backends["a"] === 1, {
      timeoutMs: 10_000,
      what: `the ${kind} client to leave the removed Destination`,
    });
    expect((await run("removal", { calls: 10 })).backends).toEqual({ a: 10 });
  });

  it("isolates a route configuration the client NACKs: it keeps its last accepted one, other targets keep changing", async () => {
    const nodeId = `interop-${kind}`;
    await applyWorld();
    await waitFor(async () => (await run("change", { calls: 1 })).backends["a"] === 1, {
      timeoutMs: 10_000,
      what: "the change target back on a",
    });
    expect((await run("nack", { calls: 5 })).backends).toEqual({ a: 5 });
    const nacksBefore = nackErrors(nodeId).length;
    // The refusal is the client's alone: Gantry would refuse these weights at apply.
    sendUnvalidated(nodeId, [nackedRouteConfiguration()]);
    try {
      await waitFor(() => nackErrors(nodeId).length > nacksBefore, {
        timeoutMs: 10_000,
        what: `the ${kind} client to NACK the overflowing weights`,
      });
      console.info(`${kind}: NACK detail: ${nackErrors(nodeId).at(-1)}`);
      const changedAt = performance.now();
      await applyWorld({ changeTo: "b" });
      await waitFor(async () => (await run("change", { calls: 1 })).backends["b"] === 1, {
        timeoutMs: 10_000,
        what: `the ${kind} client to follow a change to another target while one is NACKed`,
      });
      console.info(
        `${kind}: with one target NACKed, a change to another applied in ${Math.round(performance.now() - changedAt)} ms`,
      );
      expect((await run("change", { calls: 10 })).backends).toEqual({ b: 10 });
      expect((await run("nack", { calls: 10 })).backends).toEqual({ a: 10 });
      expect((await run("routes", { calls: 5, method: "/interop.Echo/Exact" })).backends).toEqual({ a: 5 });
    } finally {
      sendUnvalidated(nodeId, undefined);
    }
  });

  it("keeps routing by the last accepted route table after an update validation rejects", async () => {
    await applyWorld();
    const lastGoodRouting = async () => {
      expect((await run("lastgood", { calls: 5, method: "/interop.Echo/Exact" })).backends).toEqual({ a: 5 });
      expect((await run("lastgood", { calls: 5, method: "/interop.Echo/Else" })).backends).toEqual({ b: 5 });
      expect((await run("lastgood", { calls: 3, method: "/interop.Other/x" })).codes).toEqual({ [UNAVAILABLE]: 3 });
    };
    await lastGoodRouting();
    await applyWorld({ lastGoodRejected: true, changeTo: "b" });
    const status = server.status(routeTable("lastgood"));
    expect(status?.state).toBe(State.INVALID);
    expect(status?.messages.join("\n")).toMatch(/http\[0\].*regex/);
    expect(status?.messages).toContain("its last accepted version keeps serving");
    // The same update's other change went out, so the client has seen a version after the rejection.
    await waitFor(async () => (await run("change", { calls: 1 })).backends["b"] === 1, {
      timeoutMs: 10_000,
      what: `the ${kind} client to follow the change applied with the rejected update`,
    });
    await lastGoodRouting();
  });
});
