import { Counter, createRegistry, Histogram, type Registry, requestLatencyBuckets } from "../lib/index.js";

/** Per-rule counters, by the rule's statistics name (as envoyproxy/ratelimit names its stats). */
export interface RuleStats {
  totalHits: Counter.Internal;
  overLimit: Counter.Internal;
  nearLimit: Counter.Internal;
  withinLimit: Counter.Internal;
  shadowMode: Counter.Internal;
  overLimitWithLocalCache: Counter.Internal;
}

export interface RateLimitMetrics {
  readonly registry: Registry;
  rule(statsName: string): RuleStats;
  readonly redisErrors: Counter;
  readonly configLoads: Counter<"result">;
  readonly requestDuration: Histogram<"code">;
}

export function createRateLimitMetrics(registry: Registry = createRegistry("ratelimit")): RateLimitMetrics {
  const ruleCounter = (name: string, help: string) =>
    new Counter({ name: `gantry_ratelimit_rule_${name}`, help, labelNames: ["rule"], registers: [registry] });
  const counters = {
    totalHits: ruleCounter("total_hits", "hits counted against the rule"),
    overLimit: ruleCounter("over_limit", "hits over the rule's limit"),
    nearLimit: ruleCounter("near_limit", "hits within the limit but above 80% of it"),
    withinLimit: ruleCounter("within_limit", "hits within the limit"),
    shadowMode: ruleCounter("shadow_mode", "hits over the limit that shadow mode let through"),
    overLimitWithLocalCache: ruleCounter(
      "over_limit_with_local_cache",
      "hits answered over the limit from the local over-limit cache, without the backend",
    ),
  };
  // Children are looked up once per rule: label hashing on every hit would cost the hot path.
  const rules = new Map<string, RuleStats>();
  return {
    registry,
    rule(statsName) {
      let stats = rules.get(statsName);
      if (!stats) {
        stats = {
          totalHits: counters.totalHits.labels(statsName),
          overLimit: counters.overLimit.labels(statsName),
          nearLimit: counters.nearLimit.labels(statsName),
          withinLimit: counters.withinLimit.labels(statsName),
          shadowMode: counters.shadowMode.labels(statsName),
          overLimitWithLocalCache: counters.overLimitWithLocalCache.labels(statsName),
        };
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
