// The dashboard's calls on a real management server: Overview (counts, no documents), Graph (the
// whole graph in one answer, for a viewer too) and GraphRates (FAILED_PRECONDITION without
// Prometheus, UNAVAILABLE naming it when it does not answer); and the port's non-API paths (a
// browser's /favicon.ico) answered without spending the failed-authentication budget.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, PrometheusGraphRates, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { freePorts } from "../support/ports.js";
import { policiesExample } from "../ui/fixtures.js";

const adminToken = "dash-admin-token-0123456789abcdef";
const viewerToken = "dash-viewer-token-0123456789abcdef";

const placed = {
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name: "store", namespace: "policies", clusters: ["east"] },
  spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.6.1" }] },
};

interface GraphAnswer {
  nodes: Array<{ id: string; kind: string; resourceKind?: string }>;
  edges: Array<{
    id: string;
    overlay?: boolean;
    envoyClusters?: string[];
    authConfigId?: string;
    rateLimitDomain?: string;
  }>;
  routes: Array<{ routeTable: string; name: string }>;
}

function startServer(apiPort: number, prometheusPort?: number): Promise<ManagementServer> {
  return startManagementServer({
    store: new MemoryStore(),
    host: "127.0.0.1",
    xdsPort: 0,
    apiPort,
    apiToken: adminToken,
    apiTokens: [{ name: "vera", role: "viewer", token: viewerToken }],
    apiLimits: { authFailuresPerMinute: 3 },
    ...(prometheusPort === undefined
      ? {}
      : // Nothing listens there: the server's real Prometheus client finds it unreachable.
        { graphRates: new PrometheusGraphRates(`http://127.0.0.1:${prometheusPort}`) }),
    logger: createLogger({ service: "test", level: "silent" }),
    registry: createRegistry("server", { processMetrics: false }),
    debounce: { quietMs: 10, maxDelayMs: 100 },
  });
}

describe("the dashboard's API calls", () => {
  let server: ManagementServer;
  let unreachable: ManagementServer;

  const api = async <T>(port: number, method: string, token = adminToken): Promise<{ status: number; body: T }> => {
    const response = await fetch(`http://127.0.0.1:${port}/gantry.api.v1.ManagementService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
    return { status: response.status, body: (await response.json()) as T };
  };

  beforeAll(async () => {
    const [a, b, p] = (await freePorts(3)) as [number, number, number];
    server = await startServer(a);
    unreachable = await startServer(b, p);
    const documents = [...policiesExample().filter((d) => d["kind"] !== "Destination"), placed];
    for (const s of [server, unreachable]) {
      const applied = await fetch(`http://127.0.0.1:${s.apiPort}/gantry.api.v1.ManagementService/Apply`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ documents }),
      });
      expect(applied.status).toBe(200);
      await s.settle();
    }
  });
  afterAll(async () => {
    await server?.stop();
    await unreachable?.stop();
  });

  it("Graph answers the whole graph in one call, to a viewer too", async () => {
    const { status, body } = await api<GraphAnswer>(server.apiPort, "Graph", viewerToken);
    expect(status).toBe(200);
    const edge = (id: string) => body.edges.find((e) => e.id === id);
    expect(edge("Gateway policies/public→RouteTable policies/store")).toBeDefined();
    expect(edge("RouteTable policies/store→Destination policies/store")?.envoyClusters).toEqual([
      "policies/store:8080",
    ]);
    expect(edge("Destination policies/store→cluster east")).toBeDefined();
    expect(edge("ExtAuthPolicy policies/require-login→RouteTable policies/store")).toMatchObject({
      overlay: true,
      authConfigId: "policies/users",
    });
    expect(edge("RateLimitPolicy policies/per-client→RouteTable policies/store")).toMatchObject({
      overlay: true,
      rateLimitDomain: "store",
    });
    expect(body.nodes.find((n) => n.id === "cluster east")).toMatchObject({ kind: "cluster" });
    expect(body.routes.some((r) => r.routeTable === "RouteTable policies/store")).toBe(true);
    // No document travels in it: nothing secret can (the AuthConfig's user list stays out).
    expect(JSON.stringify(body)).not.toContain("SHA}");
  });

  it("Overview counts proxies, insights and resources by kind and status, without documents", async () => {
    const { status, body } = await api<{
      resources: Array<{ kind: string; total: number; accepted?: number }>;
      proxies?: object;
      clusters?: object;
      insights?: object;
    }>(server.apiPort, "Overview", viewerToken);
    expect(status).toBe(200);
    expect(body.resources.find((k) => k.kind === "RouteTable")).toMatchObject({ total: 1, accepted: 1 });
    expect(body.resources.map((k) => k.kind)).toEqual([...body.resources.map((k) => k.kind)].sort());
    // No relay: no cluster counts (the page says so).
    expect(body.clusters).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain("metadata");
  });

  it("GraphRates: FAILED_PRECONDITION without Prometheus, UNAVAILABLE naming it when unreachable", async () => {
    const off = await api<{ code: string; message: string }>(server.apiPort, "GraphRates", viewerToken);
    expect(off.status).toBe(400);
    expect(off.body).toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining("--prometheus-url"),
    });
    const down = await api<{ code: string; message: string }>(unreachable.apiPort, "GraphRates", viewerToken);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      code: "unavailable",
      message: expect.stringContaining("Prometheus unreachable"),
    });
  });

  it("answers /favicon.ico and other non-API paths without spending the failed-authentication budget", async () => {
    const base = `http://127.0.0.1:${server.apiPort}`;
    // Three failures are the whole budget here: a browser asking for its icon ten times would have spent it.
    for (let i = 0; i < 10; i++) {
      const icon = await fetch(`${base}/favicon.ico`);
      expect(icon.status).toBe(200);
      expect(icon.headers.get("content-type")).toBe("image/svg+xml");
      expect(await icon.text()).toContain("<svg");
      expect((await fetch(`${base}/robots.txt`)).status).toBe(404);
      expect((await fetch(`${base}/apple-touch-icon.png`, { method: "HEAD" })).status).toBe(404);
    }
    expect((await fetch(`${base}/ui/favicon.svg`)).status).toBe(200);
    // The address is not locked out: a wrong token is still refused as wrong (401, not 429) …
    expect((await api(server.apiPort, "Overview", "wrong-token-0123456789abcdef")).status).toBe(401);
    // … and the right one goes through.
    expect((await api(server.apiPort, "Overview")).status).toBe(200);
  });
});
