// Insights end to end on a real management server: a bad apply appears through the API, the
// metric and describe; fixing it resolves it (resolved-at, history); silences hide it; a real
// grpc-js xDS client's NACK becomes an insight carrying the client's error text.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { XdsResource } from "../../src/envoy/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { parseDocument, type Resource } from "../../src/resources/index.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { startClient } from "../interop/clients.js";
import { overflowingSplit } from "../support/overflowing-split.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
let server: ManagementServer;
let registry: Registry;
let sendUnvalidated: (nodeId: string, resources: readonly XdsResource[] | undefined) => void = () => {};

beforeAll(async () => {
  registry = createRegistry("server", { processMetrics: false });
  server = await startManagementServer({
    store: new MemoryStore(),
    host: "127.0.0.1",
    xdsPort: 0,
    apiPort: 0,
    apiToken: undefined,
    insecureApi: true,
    logger,
    registry,
    debounce: { quietMs: 10, maxDelayMs: 100 },
    unvalidatedResourcesForTests: (send) => {
      sendUnvalidated = send;
    },
  });
});

afterAll(async () => {
  await server?.stop();
});

async function call<T>(method: string, body: object): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface InsightJson {
  id: string;
  code: string;
  severity: string;
  summary: string;
  targets: { kind: string; namespace?: string; name: string }[];
  evidence?: Record<string, string>;
  firstSeen: string;
  lastSeen: string;
  resolvedAt?: string;
  silenced?: boolean;
}

async function insights(request: object = {}): Promise<InsightJson[]> {
  return (await call<{ insights?: InsightJson[] }>("ListInsights", request)).insights ?? [];
}

async function metricLines(): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((l) => l.startsWith("gantry_insight{"));
}

/** A `gantry_insight` series with these labels first (the registry's service label follows) and value 1. */
function series(labels: string) {
  return expect.stringMatching(
    new RegExp(`^gantry_insight\\{${labels.replace(/[{}()[\]|.*+?^$\\]/g, "\\$&")}[,}].* 1$`),
  );
}

const gateway = {
  apiVersion: "gantry/v1",
  kind: "Gateway",
  metadata: { name: "edge", namespace: "shop" },
  spec: { proxies: { labels: { app: "edge" } }, listeners: [{ port: 8080 }] },
};

const routeTable = {
  apiVersion: "gantry/v1",
  kind: "RouteTable",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    hosts: ["shop.example"],
    gateways: [{ name: "edge" }],
    http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: "web" } }], timeout: "5s" } }],
  },
};

const destination = {
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name: "web", namespace: "shop" },
  spec: { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1" }] },
};

describe("insights on a running server", () => {
  it("a dangling reference appears via the API, the metric and describe; fixing it resolves it", async () => {
    await call("Apply", { documents: [gateway, routeTable] });
    await server.settle();
    const dangling = (await insights({ code: "GTY0101" }))[0];
    expect(dangling).toMatchObject({
      code: "GTY0101",
      severity: "ERROR",
      summary:
        "RouteTable shop/web spec.http[0].forwardTo.destinations[0].destination refers to Destination/shop/web, which does not exist",
      targets: [
        { kind: "RouteTable", namespace: "shop", name: "web" },
        { kind: "Destination", namespace: "shop", name: "web" },
      ],
    });
    expect(await metricLines()).toContainEqual(
      series(
        'code="GTY0101",severity="ERROR",category="config",cluster="",target_kind="RouteTable",target_namespace="shop",target_name="web"',
      ),
    );
    const described = await call<{ insights?: InsightJson[] }>("Describe", {
      ref: { kind: "RouteTable", namespace: "shop", name: "web" },
    });
    expect(described.insights?.map((i) => i.code)).toContain("GTY0101");
    // Filters by target.
    expect(await insights({ target: { kind: "Gateway", name: "edge" } })).toEqual([]);

    await call("Apply", { documents: [destination] });
    await server.settle();
    await server.insights.book.flushed();
    expect(await insights({ code: "GTY0101" })).toEqual([]);
    expect((await metricLines()).filter((l) => l.includes('code="GTY0101"'))).toEqual([]);
    const resolved = await insights({ code: "GTY0101", includeResolved: true });
    expect(resolved).toHaveLength(1);
    expect(resolved[0]?.id).toBe(dangling?.id);
    expect(Date.parse(resolved[0]?.resolvedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(dangling?.firstSeen ?? ""));
  });

  it("silences by code, then per resource; unsilence brings it back", async () => {
    const unused = { ...destination, metadata: { name: "old", namespace: "shop" } };
    await call("Apply", { documents: [unused] });
    await server.settle();
    const target = { kind: "Destination", namespace: "shop", name: "old" };
    expect((await insights({ code: "GTY0108" })).map((i) => i.targets[0])).toEqual([target]);

    await call("SilenceInsight", { code: "GTY0108", reason: "cleanup planned" });
    expect(await insights({ code: "GTY0108" })).toEqual([]);
    expect((await metricLines()).filter((l) => l.includes("GTY0108"))).toEqual([]);
    const all = await insights({ code: "GTY0108", includeSilenced: true });
    expect(all.map((i) => i.silenced)).toEqual([true]);
    await call("UnsilenceInsight", { code: "GTY0108" });

    await call("SilenceInsight", { code: "GTY0108", target });
    expect(await insights({ code: "GTY0108" })).toEqual([]);
    const { removed } = await call<{ removed?: boolean }>("UnsilenceInsight", { code: "GTY0108", target });
    expect(removed).toBe(true);
    expect((await insights({ code: "GTY0108" })).map((i) => i.targets[0])).toEqual([target]);

    await expect(call("SilenceInsight", { code: "GTY0999" })).rejects.toThrow(/unknown insight code .*GTY0999/);
    await expect(call("SilenceInsight", { code: "GTY0108", target: { kind: "Destination" } })).rejects.toThrow(
      /target.kind and target.name are required/,
    );
  });

  it("a grpc-js xDS client that NACKs a route configuration: GTY0203 with the client's error text", async () => {
    // An even split, applied; the client then gets it with weights whose sum does not fit the uint32
    // every xDS client sums them in, sent past Gantry's validator (which refuses them at apply).
    const grpcDocs = [
      {
        apiVersion: "gantry/v1",
        kind: "Gateway",
        metadata: { name: "mesh", namespace: "grpc" },
        spec: { kind: "GRPC_PROXYLESS", proxies: { labels: { app: "nacker" } } },
      },
      ...["a", "b"].map((name) => ({
        apiVersion: "gantry/v1",
        kind: "Destination",
        metadata: { name, namespace: "grpc" },
        spec: { ports: [{ number: 50051, protocol: "GRPC" }], endpoints: [{ address: "127.0.0.1", port: 9 }] },
      })),
      {
        apiVersion: "gantry/v1",
        kind: "RouteTable",
        metadata: { name: "nack", namespace: "grpc" },
        spec: {
          hosts: ["nack.test"],
          gateways: [{ name: "mesh" }],
          http: [
            {
              forwardTo: {
                destinations: [
                  { destination: { name: "a" }, weight: 1 },
                  { destination: { name: "b" }, weight: 1 },
                ],
                timeout: "5s",
              },
            },
          ],
        },
      },
    ];
    await call("Apply", { documents: grpcDocs });
    await server.settle();
    const nodeId = "insights-nacker";
    const client = await startClient(
      "grpc-js",
      buildGrpcBootstrap({ nodeId, labels: { app: "nacker" }, xdsHost: "127.0.0.1", xdsPort: server.xdsPort }),
    );
    if (!client) throw new Error("the grpc-js client did not start");
    const resources = grpcDocs.map((document): Resource => {
      const parsed = parseDocument(document, "grpcDocs");
      if ("errors" in parsed) throw new Error(parsed.errors.join("\n"));
      return parsed;
    });
    sendUnvalidated(nodeId, [overflowingSplit(resources, "nack.test")]);
    try {
      // The call cannot succeed: it only makes the client subscribe to the target's resources.
      await client.run({ target: "xds:///nack.test", calls: 1, timeoutMs: 3_000 });
      let nack: InsightJson | undefined;
      await waitFor(
        async () => {
          nack = (await insights({ code: "GTY0203", target: { kind: "Proxy", name: nodeId } }))[0];
          return nack !== undefined;
        },
        { timeoutMs: 20_000, what: "a GTY0203 insight for the NACKing client" },
      );
      const error = nack?.evidence?.["error"] ?? "";
      expect(error.length).toBeGreaterThan(0);
      expect(nack?.summary).toContain(error);
      expect(nack?.evidence?.["typeUrl"]).toBe("type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
      expect(nack?.evidence?.["resources"]).toBe("grpc/mesh/grpc/nack.test");
      // The error is what the client said, as the ACK ledger holds it.
      const { clients = [] } = await call<{ clients?: { nodeId: string; lastNackError?: string }[] }>(
        "ListProxies",
        {},
      );
      expect(clients.find((c) => c.nodeId === nodeId)?.lastNackError).toContain(error);
      expect(await metricLines()).toContainEqual(
        series(
          `code="GTY0203",severity="ERROR",category="proxies",cluster="",target_kind="Proxy",target_namespace="",target_name="${nodeId}"`,
        ),
      );
    } finally {
      await client.stop();
    }
  });
});
