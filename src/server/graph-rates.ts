// Live rates on the dashboard graph's edges, from Prometheus (`--prometheus-url`): a fixed set of
// PromQL queries the server runs (the browser never talks to Prometheus), their series mapped onto
// the edges that carry them ([ui](../../docs/ui.md#live-rates-on-the-graph)).
import type { Graph } from "./graph.js";

/** The window rates are taken over (seconds), unless the source is given another. */
export const defaultRateWindowSeconds = 60;

/**
 * Every query the server sends, by what it measures. Envoy's standard cluster statistics for the
 * traffic edges (its Prometheus names, `envoy_cluster_name` holding the cluster name with `:` made
 * `_`); Gantry's ext-auth and rate-limit counters for the policy overlays.
 */
export function graphRateQueries(windowSeconds = defaultRateWindowSeconds) {
  const w = `[${windowSeconds}s]`;
  return {
    upstreamRequests: `sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total${w}))`,
    upstream5xx: `sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}${w}))`,
    authChecks: `sum by (config_id) (rate(gantry_extauth_checks_total${w}))`,
    authRefused: `sum by (config_id) (rate(gantry_extauth_checks_total{result=~"deny|error|unknown_config"}${w}))`,
    rateLimitHits: `sum by (rule) (rate(gantry_ratelimit_rule_total_hits${w}))`,
    rateLimitOver: `sum by (rule) (rate(gantry_ratelimit_rule_over_limit${w}))`,
  };
}

export type GraphRateQuery = keyof ReturnType<typeof graphRateQueries>;

/** The label each query sums by: its answer's key. */
const summedBy = (query: string): string => /sum by \((\w+)\)/.exec(query)?.[1] ?? "";

/** One query's answer: value per label value (the one label it is summed by). */
export type RateSeries = Record<GraphRateQuery, ReadonlyMap<string, number>>;

export interface EdgeRate {
  edge: string;
  requestsPerSecond: number;
  errorRatio: number;
}

/** How Envoy names a cluster in its statistics: `:` (reserved in statsd) and NUL become `_`. */
export function envoyStatName(cluster: string): string {
  return cluster.replace(/[:\0]/g, "_");
}

/**
 * The rate-limit server counts per rule, named `domain.key_value…` (as envoyproxy/ratelimit):
 * a domain's numbers are the sum over the rules under it.
 */
function byDomain(series: ReadonlyMap<string, number>, domain: string): number | undefined {
  let sum: number | undefined;
  for (const [rule, value] of series) {
    if (rule === domain || rule.startsWith(`${domain}.`)) sum = (sum ?? 0) + value;
  }
  return sum;
}

const ratio = (part: number, total: number) => (total > 0 ? Math.min(1, part / total) : 0);

/** The rates on the graph's edges that some series measures (pure); sorted by edge id. */
export function ratesOnEdges(graph: Pick<Graph, "edges">, series: RateSeries): EdgeRate[] {
  const out: EdgeRate[] = [];
  for (const edge of graph.edges) {
    if (edge.envoyClusters.length > 0) {
      let total: number | undefined;
      let errors = 0;
      for (const cluster of edge.envoyClusters) {
        const name = envoyStatName(cluster);
        const value = series.upstreamRequests.get(name);
        if (value === undefined) continue;
        total = (total ?? 0) + value;
        errors += series.upstream5xx.get(name) ?? 0;
      }
      if (total !== undefined) out.push({ edge: edge.id, requestsPerSecond: total, errorRatio: ratio(errors, total) });
    } else if (edge.authConfigId !== "") {
      const total = series.authChecks.get(edge.authConfigId);
      if (total !== undefined) {
        const refused = series.authRefused.get(edge.authConfigId) ?? 0;
        out.push({ edge: edge.id, requestsPerSecond: total, errorRatio: ratio(refused, total) });
      }
    } else if (edge.rateLimitDomain !== "") {
      const total = byDomain(series.rateLimitHits, edge.rateLimitDomain);
      if (total !== undefined) {
        const over = byDomain(series.rateLimitOver, edge.rateLimitDomain) ?? 0;
        out.push({ edge: edge.id, requestsPerSecond: total, errorRatio: ratio(over, total) });
      }
    }
  }
  return out.sort((a, b) => (a.edge < b.edge ? -1 : a.edge > b.edge ? 1 : 0));
}

/** Where the series come from (Prometheus; a fake in unit tests). */
export interface GraphRatesSource {
  /** The window its rates are taken over (seconds). */
  readonly windowSeconds: number;
  series(): Promise<RateSeries>;
}

/** Prometheus' HTTP API: the fixed queries, in parallel, each bounded by `timeoutMs` (default 3 s). */
export class PrometheusGraphRates implements GraphRatesSource {
  readonly windowSeconds: number;
  readonly #timeoutMs: number;

  constructor(
    private readonly baseUrl: string,
    options: { windowSeconds?: number; timeoutMs?: number } = {},
  ) {
    this.windowSeconds = options.windowSeconds ?? defaultRateWindowSeconds;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
  }

  async series(): Promise<RateSeries> {
    const queries = graphRateQueries(this.windowSeconds);
    const keys = Object.keys(queries) as GraphRateQuery[];
    const answers = await Promise.all(keys.map(async (key) => [key, await this.#vector(queries[key])] as const));
    return Object.fromEntries(answers) as Record<GraphRateQuery, Map<string, number>>;
  }

  async #vector(query: string): Promise<Map<string, number>> {
    const url = new URL("api/v1/query", this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`);
    url.searchParams.set("query", query);
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const reason = (err as Error).name === "TimeoutError" ? `no answer within ${this.#timeoutMs} ms` : causeOf(err);
      throw new Error(`Prometheus unreachable at ${url.origin}: ${reason}`);
    }
    const body = (await response.json().catch(() => undefined)) as
      | {
          status?: string;
          error?: string;
          data?: { result?: { metric?: Record<string, string>; value?: [number, string] }[] };
        }
      | undefined;
    if (!response.ok || body?.status !== "success") {
      throw new Error(
        `Prometheus at ${url.origin}: query ${query} failed: ${body?.error ?? `HTTP ${response.status}`}`,
      );
    }
    const out = new Map<string, number>();
    for (const sample of body.data?.result ?? []) {
      const label = sample.metric?.[summedBy(query)] ?? "";
      const value = Number(sample.value?.[1]);
      if (Number.isFinite(value)) out.set(label, value);
    }
    return out;
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** The API's GraphRates over a source: the series now, on the graph's edges. */
export function graphRatesOf(
  source: GraphRatesSource,
): (graph: Pick<Graph, "edges">) => Promise<{ windowSeconds: number; edges: EdgeRate[] }> {
  return async (graph) => ({ windowSeconds: source.windowSeconds, edges: ratesOnEdges(graph, await source.series()) });
}
