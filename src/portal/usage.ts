// Usage per key and plan, over time, from the rate-limit server's per-rule counters: the plans'
// rules keep statistics per key (detailed_metric), so each key's requests and rejections are
// counters on the rate-limit server's /metrics. The portal samples them and keeps the increases.
import type { Timer, Timers } from "../lib/clock.js";

/** Requests and rejections of one key in one sampling interval. */
export interface UsagePoint {
  /** End of the interval (ms since the epoch). */
  at: number;
  requests: number;
  rejected: number;
}

export interface KeyCounters {
  product: string;
  plan: string;
  key: string;
  requests: number;
  rejected: number;
}

// gantry-portal.portal_product_<product>.portal_plan_<plan>.api_key_<id>[/limitN]
const rule = /^gantry-portal\.portal_product_(.+)\.portal_plan_(.+)\.api_key_([0-9a-f]+)(\/limit\d+)?$/;
const sample = /^(gantry_ratelimit_rule_(?:total_hits|over_limit))\{([^}]*)\}\s+([0-9.e+]+)/;

function labelValue(labels: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|,)${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels);
  return match?.[1]?.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

/**
 * Each key's counters in a Prometheus text exposition. Requests are the hits of a key's first
 * limit (every request is counted there once); rejections add up over its limits, at most its requests.
 */
export function parseKeyCounters(text: string): KeyCounters[] {
  const byKey = new Map<string, KeyCounters>();
  for (const line of text.split("\n")) {
    const m = sample.exec(line);
    if (!m) continue;
    const name = labelValue(m[2] ?? "", "rule");
    const r = name === undefined ? null : rule.exec(name);
    if (!r) continue;
    const [, product = "", plan = "", key = "", extra] = r;
    const entry = byKey.get(key) ?? { product, plan, key, requests: 0, rejected: 0 };
    const value = Number(m[3]);
    if (m[1] === "gantry_ratelimit_rule_total_hits" && extra === undefined) entry.requests += value;
    if (m[1] === "gantry_ratelimit_rule_over_limit") entry.rejected += value;
    byKey.set(key, entry);
  }
  return [...byKey.values()].map((c) => ({ ...c, rejected: Math.min(c.rejected, c.requests) }));
}

export interface UsageOptions {
  /** The rate-limit server's metrics URL (`http://host:9093/metrics`). */
  metricsUrl: string;
  intervalMs: number;
  /** Points kept per key. */
  keep: number;
  timers: Timers;
  onError?: (err: Error) => void;
}

/** Samples the rate-limit server's counters on an interval and keeps each key's recent increases. */
export class UsageRecorder {
  readonly #series = new Map<string, UsagePoint[]>();
  readonly #last = new Map<string, KeyCounters>();
  #timer: Timer | undefined;
  #stopped = false;

  constructor(private readonly options: UsageOptions) {}

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      void this.sampleNow().finally(() => {
        if (!this.#stopped) this.#timer = this.options.timers.setTimeout(tick, this.options.intervalMs);
      });
    };
    tick();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  /** Reads the counters once and records each key's increase since the last reading. */
  async sampleNow(): Promise<void> {
    let text: string;
    try {
      const response = await fetch(this.options.metricsUrl, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`${this.options.metricsUrl} answered HTTP ${response.status}`);
      text = await response.text();
    } catch (err) {
      this.options.onError?.(err as Error);
      return;
    }
    this.record(parseKeyCounters(text), this.options.timers.now());
  }

  /** Records one reading (the counters as they are now). A counter that went down (a restart) counts from zero. */
  record(counters: readonly KeyCounters[], at: number): void {
    for (const c of counters) {
      const before = this.#last.get(c.key);
      const requests = before && c.requests >= before.requests ? c.requests - before.requests : c.requests;
      const rejected = before && c.rejected >= before.rejected ? c.rejected - before.rejected : c.rejected;
      this.#last.set(c.key, c);
      const series = this.#series.get(c.key) ?? [];
      series.push({ at, requests, rejected });
      if (series.length > this.options.keep) series.splice(0, series.length - this.options.keep);
      this.#series.set(c.key, series);
    }
  }

  /** A key's points, oldest first, and its totals since the portal started watching. */
  usage(key: string): { points: UsagePoint[]; requests: number; rejected: number } {
    const points = this.#series.get(key) ?? [];
    const last = this.#last.get(key);
    return { points: [...points], requests: last?.requests ?? 0, rejected: last?.rejected ?? 0 };
  }
}
