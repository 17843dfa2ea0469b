// Per-client ACK status for real gRPC xDS clients, which subscribe per target: a client that
// dialled two targets counts those two targets' resources, in sync, and nothing else the
// gateway publishes; describe shows it on those targets' route tables only.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { TypeUrl } from "../../src/envoy/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";
import { type Backend, startBackend } from "./backends.js";
import { type ClientKind, clientCommand, clientKinds, type InteropClient, startClient } from "./clients.js";
import { gatewayLabels, world } from "./world.js";

const logger = createLogger({ service: "test", level: "silent" });
const store = new MemoryStore();
let server: ManagementServer;
const backends: Backend[] = [];

beforeAll(async () => {
  backends.push(...(await Promise.all(["a", "b", "flaky", "slow", "p1", "p2"].map((name) => startBackend(name)))));
  const [a, b, flaky, slow, p1, p2] = backends.map((backend) => backend.port) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
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
  const yaml = world({ a, b, flaky, slow, p1, p2 });
  await store.apply(parseAllDocuments(yaml).map((d) => d.toJSON() as ResourceDocument));
  await server.settle();
});

afterAll(async () => {
  await server?.stop();
  await Promise.all(backends.map((b) => b.stop()));
});

/** The management API, as `gantry` calls it (Connect JSON over HTTP/1.1). */
async function call<T>(method: string, body: object): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface ClientJson {
  nodeId: string;
  streams?: string[];
  inSync?: number;
  pending?: number;
  nacked?: number;
}

interface DescribeJson {
  envoyResources?: { typeUrl: string; name: string; clients?: { nodeId: string; state: string }[] }[];
}

describe.each(clientKinds.filter((kind) => clientCommand(kind) !== undefined))("%s client", (kind: ClientKind) => {
  let client: InteropClient;
  const nodeId = `acks-${kind}`;

  beforeAll(async () => {
    const bootstrap = buildGrpcBootstrap({
      nodeId,
      labels: gatewayLabels,
      xdsHost: "127.0.0.1",
      xdsPort: server.xdsPort,
    });
    const started = await startClient(kind, bootstrap);
    if (!started) throw new Error(`the ${kind} client is not built`);
    client = started;
    // The first call to each target waits for its LDS, RDS, CDS and EDS. `routes` routes only
    // interop.* methods; `split` routes every method.
    const method = "/interop.Echo/Exact";
    for (const target of ["routes", "split"]) {
      await waitFor(
        async () => (await client.run({ target: `xds:///${target}.test`, calls: 1, method })).codes["0"] === 1,
        { timeoutMs: 25_000, what: `the ${kind} client's first call to ${target}` },
      );
    }
  });

  afterAll(async () => {
    await client?.stop();
  });

  it("counts the two targets it dialled, all in sync, and nothing else the gateway publishes", async () => {
    const mine = async () => {
      const { clients = [] } = await call<{ clients?: ClientJson[] }>("ListProxies", {});
      return clients.find((c) => c.nodeId === nodeId);
    };
    // Both targets: a listener and a route configuration each; their routes use clusters a and b,
    // each with its endpoints. Twelve route tables are published; the client asked for two.
    await waitFor(async () => (await mine())?.inSync === 8, {
      timeoutMs: 15_000,
      what: `${nodeId} in sync on exactly its two targets' resources`,
    });
    // Proto3 JSON leaves zero counts out.
    const counted = await mine();
    expect([counted?.pending ?? 0, counted?.nacked ?? 0]).toEqual([0, 0]);
    // Go gRPC (1.85) opens one ADS stream per target, grpc-js one for both: one client either way,
    // each resource counted once.
    if (kind === "go") expect(counted?.streams).toEqual(["ads-sotw", "ads-sotw"]);
    else expect(counted?.streams?.length).toBeGreaterThanOrEqual(1);

    const gateway = await call<DescribeJson>("Describe", {
      ref: { kind: "Gateway", namespace: "interop", name: "interop" },
    });
    const heldBy = (typeUrl: string) =>
      (gateway.envoyResources ?? [])
        .filter((r) => r.typeUrl === typeUrl && r.clients?.some((c) => c.nodeId === nodeId && c.state === "in-sync"))
        .map((r) => r.name);
    expect(heldBy(TypeUrl.listener)).toEqual(["routes.test", "split.test"]);
    expect(heldBy(TypeUrl.route)).toEqual(["interop/interop/grpc/routes.test", "interop/interop/grpc/split.test"]);
    expect((gateway.envoyResources ?? []).filter((r) => r.typeUrl === TypeUrl.listener).length).toBeGreaterThan(2);

    const clientsOf = async (table: string) => {
      const described = await call<DescribeJson>("Describe", {
        ref: { kind: "RouteTable", namespace: "interop", name: table },
      });
      return (described.envoyResources ?? []).flatMap((r) => (r.clients ?? []).map((c) => c.nodeId));
    };
    expect(await clientsOf("routes")).toContain(nodeId);
    expect(await clientsOf("headers")).not.toContain(nodeId);
  });
});
