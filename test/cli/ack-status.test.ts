// Per-client ACK status end to end: a management server on loopback, real xDS clients (Gantry's
// own SotW client, a raw delta stream, a client that NACKs), and what the API and CLI say.
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { formatDescription } from "../../src/cli/commands/describe.js";
import { clientJson } from "../../src/cli/commands/resources.js";
import { TypeUrl } from "../../src/envoy/index.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { runGantry } from "../support/cli.js";
import { waitFor } from "../support/wait.js";
import { DeltaClient } from "../xds/harness.js";

const token = "ack-status-test-token-0123456789";
const logger = createLogger({ service: "test", level: "silent" });

/** A proxyless gateway with two targets, and a route table refused whole (a lookahead is not RE2). */
const documents = (refusedPath: string) => `
apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh, namespace: grpc }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: frontend } }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: echo, namespace: grpc }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 10.0.7.1 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: echo, namespace: grpc }
spec:
  hosts: ["echo.grpc.example"]
  gateways: [{ name: mesh }]
  http:
    - name: all
      forwardTo: { destinations: [{ destination: { name: echo } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: hello, namespace: grpc }
spec:
  hosts: ["hello.grpc.example"]
  gateways: [{ name: mesh }]
  http:
    - name: all
      forwardTo: { destinations: [{ destination: { name: echo } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: refused, namespace: grpc }
spec:
  hosts: ["refused.grpc.example"]
  gateways: [{ name: mesh }]
  http:
    - name: lookahead
      matchers: [{ regex: "${refusedPath}" }]
      forwardTo: { destinations: [{ destination: { name: echo } }] }
`;

describe("per-client ACK status over a node's streams, in the API, describe and get proxies", () => {
  const store = new MemoryStore();
  const clients: XdsClient[] = [];
  const deltas: DeltaClient[] = [];
  let server: ManagementServer;
  let url = "";
  const apply = (yaml: string) => store.apply(parseAllDocuments(yaml).map((d) => d.toJSON() as ResourceDocument));
  const gantry = (args: string[]) => runGantry([...args, "--server", url], { env: { GANTRY_API_TOKEN: token } });
  const api = () =>
    createConnectClient(
      ManagementService,
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: [
          (next) => async (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );

  /** One SotW stream of `nodeId` naming only `listeners` (and their route configurations), as gRPC does per target. */
  function perTarget(nodeId: string, listeners: string[], refuse?: string): XdsClient {
    const xds = new XdsClient({
      server: `127.0.0.1:${server.xdsPort}`,
      node: { id: nodeId, cluster: "test", metadata: { labels: { app: "frontend" } } },
      logger,
    });
    xds.subscribe(ListenerSchema, {
      names: listeners,
      onUpdate: () => {
        if (refuse) throw new Error(refuse);
      },
    });
    xds.subscribe(RouteConfigurationSchema, {
      names: listeners.map((host) => `grpc/mesh/grpc/${host}`),
      onUpdate: () => {},
    });
    xds.start();
    clients.push(xds);
    return xds;
  }

  beforeAll(async () => {
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    url = `http://127.0.0.1:${server.apiPort}`;
    await apply(documents("^/a(?=b)"));
    // Published before any test reads what the gateway serves.
    await server.settle();
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    for (const d of deltas) d.close();
    await server?.stop();
  });

  it("names the route configurations of the targets as the gateway publishes them", async () => {
    const { envoyResources } = await api().describe({ ref: { kind: "Gateway", namespace: "grpc", name: "mesh" } });
    expect(envoyResources.filter((r) => r.typeUrl === TypeUrl.route).map((r) => r.name)).toEqual([
      "grpc/mesh/grpc/echo.grpc.example",
      "grpc/mesh/grpc/hello.grpc.example",
    ]);
    expect(envoyResources.filter((r) => r.typeUrl === TypeUrl.listener).map((r) => r.name)).toEqual([
      "echo.grpc.example",
      "hello.grpc.example",
    ]);
  });

  it("aggregates two per-target streams of one node, a delta stream, and a client that NACKs", async () => {
    perTarget("frontend-1", ["echo.grpc.example"]);
    perTarget("frontend-1", ["hello.grpc.example"]);
    perTarget("frontend-nack", ["hello.grpc.example"], "listener hello.grpc.example: unsupported filter");
    // A delta stream subscribing to every listener and every route configuration, as Envoy does.
    const call = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.xdsPort}`).deltaAggregatedResources();
    const delta = new DeltaClient(call as ConstructorParameters<typeof DeltaClient>[0], "frontend-delta");
    deltas.push(delta);
    delta.call.write({
      node: { id: "frontend-delta", metadata: { labels: { app: "frontend" } } },
      typeUrl: TypeUrl.listener,
    });
    delta.ack(await delta.next());
    delta.send({ typeUrl: TypeUrl.route });
    delta.ack(await delta.next());

    const byNode = async () => {
      const { clients: listed } = await api().listProxies({});
      return new Map(listed.map((c) => [c.nodeId, c]));
    };
    await waitFor(
      async () => {
        const nodes = await byNode();
        return nodes.get("frontend-1")?.inSync === 4 && nodes.get("frontend-nack")?.nacked === 1
          ? nodes.get("frontend-delta")?.inSync === 4
          : false;
      },
      { what: "every client in sync but the one NACKing", timeoutMs: 15_000 },
    );
    const nodes = await byNode();
    expect(nodes.get("frontend-1")).toMatchObject({ streams: ["ads-sotw", "ads-sotw"], pending: 0, nacked: 0 });
    expect(nodes.get("frontend-delta")).toMatchObject({ streams: ["ads-delta"], pending: 0, nacked: 0 });
    expect(nodes.get("frontend-nack")).toMatchObject({ streams: ["ads-sotw"], inSync: 1, pending: 0, nacked: 1 });
    expect(nodes.get("frontend-nack")?.lastNackError).toMatch(
      /^Listener: .*listener hello\.grpc\.example: unsupported filter/,
    );

    // describe: the route table's one route configuration, with the clients that asked for it.
    const echo = await api().describe({ ref: { kind: "RouteTable", namespace: "grpc", name: "echo" } });
    expect(echo.envoyResources.map((r) => [r.name, r.clients.map((c) => [c.nodeId, c.state, c.streams])])).toEqual([
      [
        "grpc/mesh/grpc/echo.grpc.example",
        [
          ["frontend-1", "in-sync", 1],
          ["frontend-delta", "in-sync", 1],
        ],
      ],
    ]);
    // frontend-nack asked only for hello: echo's route table does not reach it.
    expect(echo.servedBy.map((p) => [p.nodeId, p.acked, p.stream])).toEqual([
      ["frontend-1", true, "ads-sotw,ads-sotw"],
      ["frontend-delta", true, "ads-delta"],
    ]);

    // What `gantry describe gateway mesh -n grpc` prints (formatted here: spawning the CLI is
    // test/cli/describe.test.ts's job, and costly on a loaded machine).
    const gateway = {
      stdout: formatDescription(await api().describe({ ref: { kind: "Gateway", namespace: "grpc", name: "mesh" } })),
    };
    expect(gateway.stdout).toMatch(/xDS resources:\n +TYPE +NAME +VERSION +NODE +STATE +RUNS +STREAMS +DETAIL\n/);
    expect(gateway.stdout).toMatch(
      /Listener +hello\.grpc\.example +[0-9a-f]{8} +frontend-1 +in sync +[0-9a-f]{8} +1 +-\n/,
    );
    expect(gateway.stdout).toMatch(
      / +frontend-nack +NACKED +- +1 +since \d{4}-\d\d-\d\dT[0-9:.]+Z: .*unsupported filter\n/,
    );
    expect(gateway.stdout).toMatch(/frontend-nack +proxy +ads-sotw +grpc\/mesh +no +Listener +Listener: /);

    const proxies = await gantry(["get", "proxies"]);
    expect(proxies.stdout.split("\n")[0]).toMatch(/^NODE +STREAMS +SERVER +IN SYNC +PENDING +NACKED +LAST NACK$/);
    expect(proxies.stdout).toMatch(/frontend-1 +2 \(ads-sotw,ads-sotw\) +\S+ +4 +0 +0 +-\n/);
    expect(proxies.stdout).toMatch(/frontend-nack +1 \(ads-sotw\) +\S+ +1 +0 +1 +Listener: .*unsupported filter\n/);
    // `gantry get proxies frontend-1 -o json`
    const listed = await api().listProxies({});
    const frontend = listed.clients.find((c) => c.nodeId === "frontend-1");
    const one = JSON.parse(JSON.stringify(frontend && clientJson(frontend, listed.proxies))) as {
      streams: unknown[];
      inSync: number;
    };
    expect(one).toMatchObject({ inSync: 4 });
    expect(one.streams).toHaveLength(2);
  });

  it("a route table rejected whole says since when, and keeps that time across re-translations", async () => {
    const first = await api().get({ ref: { kind: "RouteTable", namespace: "grpc", name: "refused" } });
    expect(first.resource?.status?.messages.join("\n")).toContain("rejected whole");
    const since = first.resource?.status?.since;
    expect(since).toBeDefined();
    // Another change re-translates everything; the refused table's reason is unchanged.
    const { revision } = await store.delete([{ kind: "RouteTable", namespace: "grpc", name: "hello" }]);
    await waitFor(() => server.publishedRevision >= revision, { what: "the deletion published" });
    const again = await api().get({ ref: { kind: "RouteTable", namespace: "grpc", name: "refused" } });
    expect(again.resource?.status?.since).toEqual(since);
    const described = {
      stdout: formatDescription(
        await api().describe({ ref: { kind: "RouteTable", namespace: "grpc", name: "refused" } }),
      ),
    };
    expect(described.stdout).toMatch(/Status: +INVALID \(since \d{4}-\d\d-\d\dT[0-9:.]+Z\)\n/);
    // A different reason starts a new time.
    await apply(documents("^/b(?!c)"));
    await waitFor(
      async () => {
        const { resource } = await api().get({ ref: { kind: "RouteTable", namespace: "grpc", name: "refused" } });
        const messages = resource?.status?.messages.join("\n");
        return messages !== undefined && messages !== first.resource?.status?.messages.join("\n");
      },
      { what: "the new reason in the refused table's status" },
    );
    const changed = await api().get({ ref: { kind: "RouteTable", namespace: "grpc", name: "refused" } });
    expect(changed.resource?.status?.since).not.toEqual(since);
  });
});
