// Where the data-plane analyzers' numbers come from: a Prometheus server (`--prometheus-url`, its
// HTTP API's instant queries over a window), or else Gantry's own registries in this process
// (`gantry up`), read as increases between two polls. Both give a DataPlaneSample.
import type { Registry } from "../lib/metrics.js";
import type { DataPlaneSample } from "./analyzers/data-plane.js";

export interface MetricSource {
  sample(): Promise<DataPlaneSample>;
}

/** Which series make each number; the same counters Gantry's services export. */
const series = {
  rlTotal: { metric: "gantry_ratelimit_rule_total_hits" },
  rlOver: { metric: "gantry_ratelimit_rule_over_limit" },
  rlRedisErrors: { metric: "gantry_ratelimit_redis_errors_total" },
  eaTotal: { metric: "gantry_extauth_checks_total" },
  eaErrors: { metric: "gantry_extauth_checks_total", results: ["error", "unknown_config"] },
  eaDenied: { metric: "gantry_extauth_checks_total", results: ["deny"] },
} as const satisfies Record<string, { metric: string; results?: readonly string[] }>;

type Numbers = { -readonly [K in keyof typeof series]: number | undefined };

function sampleOf(windowSeconds: number, n: Numbers): DataPlaneSample {
  return {
    windowSeconds,
    ...(n.rlTotal === undefined
      ? {}
      : { rateLimit: { total: n.rlTotal, overLimit: n.rlOver ?? 0, redisErrors: n.rlRedisErrors ?? 0 } }),
    ...(n.eaTotal === undefined
      ? {}
      : { extAuth: { total: n.eaTotal, errors: n.eaErrors ?? 0, denied: n.eaDenied ?? 0 } }),
  };
}

/** The PromQL for one number: the increase of the summed counter over the window. */
export function promQuery(key: keyof typeof series, windowSeconds: number): string {
  const s: { metric: string; results?: readonly string[] } = series[key];
  const selector = s.results ? `{result=~"${s.results.join("|")}"}` : "";
  return `sum(increase(${s.metric}${selector}[${windowSeconds}s]))`;
}

export class PrometheusSource implements MetricSource {
  constructor(
    private readonly baseUrl: string,
    private readonly windowSeconds = 300,
    private readonly timeoutMs = 5_000,
  ) {}

  async sample(): Promise<DataPlaneSample> {
    const keys = Object.keys(series) as (keyof typeof series)[];
    const values = await Promise.all(keys.map((key) => this.#query(promQuery(key, this.windowSeconds))));
    return sampleOf(this.windowSeconds, Object.fromEntries(keys.map((k, i) => [k, values[i]])) as Numbers);
  }

  /** One instant query's single value; undefined when no series answers (the service reports nothing). */
  async #query(query: string): Promise<number | undefined> {
    const url = new URL("api/v1/query", this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`);
    url.searchParams.set("query", query);
    const response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = (await response.json().catch(() => undefined)) as
      | { status?: string; error?: string; data?: { result?: { value?: [number, string] }[] } }
      | undefined;
    if (!response.ok || body?.status !== "success") {
      throw new Error(`prometheus ${url.origin}: query ${query} failed: ${body?.error ?? `HTTP ${response.status}`}`);
    }
    const value = body.data?.result?.[0]?.value?.[1];
    return value === undefined ? undefined : Number(value);
  }
}

/** One sample of one series, as a registry or a /metrics page gives it. */
export interface CounterValue {
  readonly name: string;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly value: number;
}

/** Counters read now, as increases since the previous read (the first read: since start). */
export class CounterSource implements MetricSource {
  #previous: { at: number; totals: Numbers } | undefined;

  constructor(
    private readonly read: () => Promise<readonly CounterValue[]>,
    private readonly now: () => number,
  ) {}

  async sample(): Promise<DataPlaneSample> {
    const values = await this.read();
    const totals = {} as Numbers;
    for (const [key, s] of Object.entries(series) as [keyof typeof series, (typeof series)[keyof typeof series]][]) {
      const found = values.filter((v) => v.name === s.metric);
      const results: readonly string[] | undefined = "results" in s ? s.results : undefined;
      totals[key] =
        found.length === 0
          ? undefined
          : found
              .filter((v) => !results || results.includes(String(v.labels["result"] ?? "")))
              .reduce((sum, v) => sum + v.value, 0);
    }
    const now = this.now();
    const previous = this.#previous;
    this.#previous = { at: now, totals };
    const delta = {} as Numbers;
    for (const key of Object.keys(series) as (keyof typeof series)[]) {
      const v = totals[key];
      // A counter that went down was reset (a restart): count from zero.
      const before = previous?.totals[key] ?? 0;
      delta[key] = v === undefined ? undefined : v >= before ? v - before : v;
    }
    return sampleOf(previous ? (now - previous.at) / 1000 : 0, delta);
  }
}

/** Gantry's own registries in this process. */
export function registrySource(registries: readonly Registry[], now: () => number): CounterSource {
  return new CounterSource(async () => {
    const metrics = (await Promise.all(registries.map((r) => r.getMetricsAsJSON()))).flat();
    return metrics.flatMap((m) => m.values.map((v) => ({ name: m.name, labels: v.labels, value: v.value })));
  }, now);
}

/** The counters of Prometheus text pages (`/metrics` of Gantry's services), e.g. in `gantry up`. */
export function scrapeSource(urls: readonly string[], now: () => number, timeoutMs = 5_000): CounterSource {
  return new CounterSource(async () => {
    const pages = await Promise.all(
      urls.map(async (url) => {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
        return response.text();
      }),
    );
    return pages.flatMap(parseExposition);
  }, now);
}

/** Samples of the Prometheus text format (comments and malformed lines are skipped). */
export function parseExposition(text: string): CounterValue[] {
  const out: CounterValue[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(match[3]);
    if (Number.isFinite(value)) out.push({ name: match[1] as string, labels, value });
  }
  return out;
}
