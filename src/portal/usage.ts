// Usage per key and plan, over time, from the rate-limit server's per-rule counters: the plans'
// rules keep statistics per key (detailed_metric), so each key's requests and rejections are
// counters on the rate-limit server's /metrics. The portal samples them and keeps the increases in
// the ext-auth Redis, so every portal replica shows the same history (docs/portal.md, Usage).
import type { Timer, Timers } from "../lib/clock.js";
import type { RedisClient } from "../lib/index.js";

/** Requests and rejections of one key in one sampling interval. */
export interface UsagePoint {
  /** Start of the sampling interval (ms since the epoch). */
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
  /** The ext-auth Redis, where the history is kept. */
  redis: RedisClient;
  /** Sampling interval; one point per key per interval, whichever replica samples first. */
  intervalMs: number;
  /** Points kept per key; a key not sampled for twice that long is forgotten. */
  keep: number;
  timers: Timers;
  onError?: (err: Error) => void;
}

// One hash tag with the apps and keys: one Redis Cluster slot.
const seriesKey = (key: string) => `{gantry-portal}:usage:${key}`;
const lastKey = (key: string) => `{gantry-portal}:usage-last:${key}`;

/**
 * Records one reading of one key, once per interval across replicas: the first replica to reach a
 * new interval appends the increase since the last reading (the whole counter after a restart of
 * the rate-limit server, when it went down) and keeps the reading; later ones in that interval do nothing.
 */
const recordScript = `local interval = tonumber(ARGV[1])
local requests, rejected = tonumber(ARGV[2]), tonumber(ARGV[3])
local last = redis.call('GET', KEYS[1])
local addRequests, addRejected = requests, rejected
if last then
  local b, r, j = string.match(last, '^(%S+) (%S+) (%S+)$')
  if tonumber(b) >= interval then return 0 end
  if requests >= tonumber(r) then addRequests = requests - tonumber(r) end
  if rejected >= tonumber(j) then addRejected = rejected - tonumber(j) end
end
redis.call('RPUSH', KEYS[2], ARGV[4] .. ' ' .. addRequests .. ' ' .. addRejected)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('SET', KEYS[1], interval .. ' ' .. ARGV[2] .. ' ' .. ARGV[3], 'PX', ARGV[6])
return 1`;

/** Samples the rate-limit server's counters on an interval and keeps each key's recent increases in Redis. */
export class UsageRecorder {
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
    try {
      const response = await fetch(this.options.metricsUrl, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`${this.options.metricsUrl} answered HTTP ${response.status}`);
      await this.record(parseKeyCounters(await response.text()), this.options.timers.now());
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }

  /**
   * Records one reading (the counters as they are now) in the interval `at` falls in; returns how
   * many keys got a point (none when another replica recorded this interval already).
   */
  async record(counters: readonly KeyCounters[], at: number): Promise<number> {
    const { intervalMs, keep } = this.options;
    const interval = Math.floor(at / intervalMs);
    const ttlMs = 2 * keep * intervalMs;
    const written = await Promise.all(
      counters.map(
        (c) =>
          this.options.redis.eval(
            recordScript,
            2,
            lastKey(c.key),
            seriesKey(c.key),
            interval,
            c.requests,
            c.rejected,
            interval * intervalMs,
            keep,
            ttlMs,
          ) as Promise<number>,
      ),
    );
    return written.reduce((sum, n) => sum + n, 0);
  }

  /** A key's points, oldest first, and its counters as last read. */
  async usage(key: string): Promise<{ points: UsagePoint[]; requests: number; rejected: number }> {
    const [series, last] = await Promise.all([
      this.options.redis.lrange(seriesKey(key), 0, -1),
      this.options.redis.get(lastKey(key)),
    ]);
    const points = series.flatMap((entry) => {
      const [at, requests, rejected] = entry.split(" ").map(Number);
      return at === undefined || requests === undefined || rejected === undefined ? [] : [{ at, requests, rejected }];
    });
    const [, requests = 0, rejected = 0] = (last ?? "").split(" ").map(Number);
    return { points, requests, rejected };
  }
}
