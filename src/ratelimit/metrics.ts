import { Counter, createRegistry, Histogram, type Registry, requestLatencyBuckets } from "../lib/index.js";

/** Per-rule tallies, as envoyproxy/ratelimit names its per-rule stats. Plain numbers: a hit costs additions. */
export interface RuleStats {
  totalHits: number;
  overLimit: number;
  nearLimit: number;
  withinLimit: number;
  shadowMode: number;
  overLimitWithLocalCache: number;
}

export interface RateLimitMetrics {
  readonly registry: Registry;
  /** The tallies of one rule, by its statistics name (created on first use). */
  rule(statsName: string): RuleStats;
  readonly redisErrors: Counter;
  readonly configLoads: Counter<"result">;
  readonly requestDuration: Histogram<"code">;
}

const ruleCounters: Array<[keyof RuleStats, string, string]> = [
  ["totalHits", "total_hits", "hits counted against the rule"],
  ["overLimit", "over_limit", "hits over the rule's limit"],
  ["nearLimit", "near_limit", "hits within the limit but above 80% of it"],
  ["withinLimit", "within_limit", "hits within the limit"],
  ["shadowMode", "shadow_mode", "hits over the limit that shadow mode let through"],
  [
    "overLimitWithLocalCache",
    "over_limit_with_local_cache",
    "hits answered over the limit from the local over-limit cache, without the backend",
  ],
];

export function createRateLimitMetrics(registry: Registry = createRegistry("ratelimit")): RateLimitMetrics {
  const rules = new Map<string, RuleStats>();
  // Per-rule counters are tallied in plain numbers on the request path and handed to Prometheus on
  // scrape: label hashing on every hit would cost the hot path more than the counting itself.
  for (const [field, name, help] of ruleCounters) {
    new Counter({
      name: `gantry_ratelimit_rule_${name}`,
      help,
      labelNames: ["rule"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [rule, stats] of rules) this.inc({ rule }, stats[field]);
      },
    });
  }
  return {
    registry,
    rule(statsName) {
      let stats = rules.get(statsName);
      if (!stats) {
        stats = { totalHits: 0, overLimit: 0, nearLimit: 0, withinLimit: 0, shadowMode: 0, overLimitWithLocalCache: 0 };
        rules.set(statsName, stats);
      }
      return stats;
    },
    redisErrors: new Counter({
      name: "gantry_ratelimit_redis_errors_total",
      help: "counter-store calls that failed or timed out",
      registers: [registry],
    }),
    configLoads: new Counter({
      name: "gantry_ratelimit_config_loads_total",
      help: "configuration loads, by result (success or error)",
      labelNames: ["result"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "gantry_ratelimit_request_duration_seconds",
      help: "ShouldRateLimit latency, by gRPC outcome",
      labelNames: ["code"],
      buckets: requestLatencyBuckets,
      registers: [registry],
    }),
  };
}
