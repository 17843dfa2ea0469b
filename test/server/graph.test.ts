// The dashboard's graph from a real translation (the policies example), and the Prometheus rates
// mapped onto its edges: traffic by Envoy cluster, ext-auth overlays by config id, rate-limit
// overlays by domain.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { loadResources } from "../../src/resources/index.js";
import { buildGraph } from "../../src/server/graph.js";
import {
  envoyStatName,
  graphRateQueries,
  PrometheusGraphRates,
  type RateSeries,
  ratesOnEdges,
} from "../../src/server/graph-rates.js";
import { translate } from "../../src/translate/index.js";

const examples = new URL("../../examples/features/", import.meta.url).pathname;
const loaded = await loadResources([`${examples}policies.yaml`]);
if (loaded.rejected.length > 0) throw new Error(loaded.rejected.flatMap((r) => r.errors).join("\n"));
const { groups } = translate(loaded.resources);

const table = "RouteTable policies/store";
const destination = "Destination policies/store";

describe("buildGraph", () => {
  const graph = buildGraph(groups, new Map([["Destination/policies/store", ["east"]]]));
  const edge = (source: string, target: string) => graph.edges.find((e) => e.id === `${source}→${target}`);

  it("links gateway → route table → destination → workload cluster, traffic edges solid", () => {
    expect(graph.nodes.map((n) => [n.id, n.kind])).toEqual(
      expect.arrayContaining([
        ["Gateway policies/public", "gateway"],
        [table, "routetable"],
        [destination, "destination"],
        ["cluster east", "cluster"],
      ]),
    );
    expect(edge("Gateway policies/public", table)).toMatchObject({ overlay: false, envoyClusters: [] });
    expect(edge(table, destination)).toMatchObject({ overlay: false, envoyClusters: ["policies/store:8080"] });
    expect(edge(destination, "cluster east")).toMatchObject({ overlay: false });
    // Each edge once, sorted: the answer is deterministic.
    expect(new Set(graph.edges.map((e) => e.id)).size).toBe(graph.edges.length);
    expect(graph.edges.map((e) => e.id)).toEqual([...graph.edges.map((e) => e.id)].sort());
  });

  it("draws policies as overlays on the route table, with what their rates are counted by", () => {
    expect(edge("ExtAuthPolicy policies/require-login", table)).toMatchObject({
      overlay: true,
      authConfigId: "policies/users",
    });
    expect(edge("RateLimitPolicy policies/per-client", table)).toMatchObject({
      overlay: true,
      rateLimitDomain: "store",
    });
    expect(edge("FaultInjectionPolicy policies/chaos", table)).toMatchObject({ overlay: true });
    expect(graph.nodes.find((n) => n.id === "RateLimitPolicy policies/per-client")).toMatchObject({
      kind: "policy",
      overlay: "rate limit",
      label: "RateLimitPolicy per-client",
    });
  });

  it("lists each route table's routes with their policies and effects", () => {
    const routes = graph.routes.filter((r) => r.routeTable === table);
    expect(routes.map((r) => r.name)).toEqual(expect.arrayContaining(["policies/store/account"]));
    const account = routes.find((r) => r.name === "policies/store/account");
    expect(account?.destinations).toEqual([destination]);
    expect(account?.policies).toEqual(
      expect.arrayContaining([
        { node: "RateLimitPolicy policies/per-client", effect: expect.stringContaining("store") },
      ]),
    );
  });

  it("is empty before anything is published", () => {
    expect(buildGraph([], new Map())).toEqual({ nodes: [], edges: [], routes: [] });
  });
});

const none = (): Record<keyof RateSeries, Map<string, number>> => ({
  upstreamRequests: new Map(),
  upstream5xx: new Map(),
  authChecks: new Map(),
  authRefused: new Map(),
  rateLimitHits: new Map(),
  rateLimitOver: new Map(),
});

describe("ratesOnEdges", () => {
  const graph = buildGraph(groups, new Map());

  it("puts Envoy's upstream rates on traffic edges (its stat names have _ for :) and policy counters on overlays", () => {
    expect(envoyStatName("policies/store:8080")).toBe("policies/store_8080");
    const series = none();
    series.upstreamRequests.set("policies/store_8080", 20);
    series.upstream5xx.set("policies/store_8080", 5);
    series.authChecks.set("policies/users", 10);
    series.authRefused.set("policies/users", 1);
    // Rules are counted per descriptor path under the domain; another domain's rule is not ours.
    series.rateLimitHits.set("store.route_account.remote_address", 6);
    series.rateLimitHits.set("store.api_key", 2);
    series.rateLimitHits.set("storefront.api_key", 100);
    series.rateLimitOver.set("store.api_key", 2);
    expect(ratesOnEdges(graph, series)).toEqual([
      { edge: `ExtAuthPolicy policies/require-login→${table}`, requestsPerSecond: 10, errorRatio: 0.1 },
      { edge: `RateLimitPolicy policies/per-client→${table}`, requestsPerSecond: 8, errorRatio: 0.25 },
      { edge: `${table}→${destination}`, requestsPerSecond: 20, errorRatio: 0.25 },
    ]);
  });

  it("leaves out edges no series measures", () => {
    expect(ratesOnEdges(graph, none())).toEqual([]);
  });
});

describe("PrometheusGraphRates", () => {
  const asked: string[] = [];
  const server = createServer((request, response) => {
    const query = new URL(request.url ?? "/", "http://x").searchParams.get("query") ?? "";
    asked.push(query);
    const result = query.includes("envoy_cluster_upstream_rq_total")
      ? [{ metric: { envoy_cluster_name: "policies/store_8080" }, value: [1, "4.5"] }]
      : [];
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ status: "success", data: { resultType: "vector", result } }));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends the fixed queries and reads each vector by the label it sums by", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const series = await new PrometheusGraphRates(`http://127.0.0.1:${port}`).series();
    expect(series.upstreamRequests).toEqual(new Map([["policies/store_8080", 4.5]]));
    expect(series.authChecks.size).toBe(0);
    expect(asked.sort()).toEqual(Object.values(graphRateQueries()).sort());
    expect(asked.every((q) => q.includes("[60s]"))).toBe(true);
  });

  it("says Prometheus is unreachable when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(new PrometheusGraphRates(`http://127.0.0.1:${port}`).series()).rejects.toThrow(
      `Prometheus unreachable at http://127.0.0.1:${port}: ECONNREFUSED`,
    );
  });

  it("says so when Prometheus does not answer within the timeout", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      await expect(new PrometheusGraphRates(`http://127.0.0.1:${port}`, { timeoutMs: 200 }).series()).rejects.toThrow(
        "no answer within 200 ms",
      );
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
