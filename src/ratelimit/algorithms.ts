import type { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";

/**
 * The counting algorithms as pure functions of the stored state. The memory store applies them
 * directly; the Redis store runs the same arithmetic atomically in Lua and then replays these
 * functions on the state Redis saw, so both stores answer identically.
 */

/** What one hit got. `used` is how much of the limit is taken after it (for the near-limit statistic). */
export interface HitOutcome {
  readonly overLimit: boolean;
  readonly remaining: number;
  readonly used: number;
  readonly resetSeconds: number;
}

/**
 * How a fixed-window counter's Redis key is spelled. `envoyproxy`: envoyproxy/ratelimit's own
 * `domain_key_value_…_<window start>`, so a fleet running both counts on the same keys. `gantry`:
 * `{domain_key_value_…}fw<seconds>_<window start>`, with the unit in the key (a descriptor's additional
 * limits and set rules count apart) and a hash tag.
 */
export type FixedWindowKeyFormat = "envoyproxy" | "gantry";

/** Hits that share one counter, coalesced: one backend call, outcomes fanned back out in order. */
export interface CounterGroup {
  readonly counterKey: string;
  readonly keyFormat: FixedWindowKeyFormat;
  readonly algorithm: RateLimitAlgorithm;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly hits: readonly number[];
}

/**
 * Counters' storage keys. The `{…}` hash tag keeps every key of one descriptor in one Redis Cluster slot
 * (the sliding window's script touches two keys); a fixed window's commands touch one key each, so its
 * envoyproxy-format keys need no tag.
 */
export function fixedWindowKey(
  counter: Pick<CounterGroup, "counterKey" | "windowSeconds" | "keyFormat">,
  nowMs: number,
): string {
  const start = fixedWindowStart(nowMs, counter.windowSeconds);
  return counter.keyFormat === "envoyproxy"
    ? `${counter.counterKey}${start}`
    : `{${counter.counterKey}}fw${counter.windowSeconds}_${start}`;
}

export function slidingWindowKeys(group: CounterGroup, nowMs: number): [current: string, previous: string] {
  const windowMs = group.windowSeconds * 1000;
  const index = Math.floor(nowMs / windowMs);
  const base = `{${group.counterKey}}sw${group.windowSeconds}_`;
  return [`${base}${index}`, `${base}${index - 1}`];
}

export function tokenBucketKey(group: CounterGroup): string {
  return `{${group.counterKey}}tb${group.windowSeconds}_${group.limit}`;
}

export function fixedWindowStart(nowMs: number, windowSeconds: number): number {
  const nowSeconds = Math.floor(nowMs / 1000);
  return nowSeconds - (nowSeconds % windowSeconds);
}

/** envoyproxy/ratelimit's rule: every hit counts; over when the count after it exceeds the limit. */
export function fixedWindowHits(
  countBefore: number,
  hits: readonly number[],
  limit: number,
  windowSeconds: number,
  nowMs: number,
): HitOutcome[] {
  const nowSeconds = Math.floor(nowMs / 1000);
  const resetSeconds = windowSeconds - (nowSeconds % windowSeconds);
  let count = countBefore;
  return hits.map((h) => {
    count += h;
    const overLimit = count > limit;
    return { overLimit, remaining: overLimit ? 0 : limit - count, used: count, resetSeconds };
  });
}

/**
 * The previous window's count weighted by how much of it still lies within the last unit of time,
 * plus the current window's. A hit is admitted (and counted) only if it fits.
 */
export function slidingWindowHits(
  previous: number,
  current: number,
  hits: readonly number[],
  limit: number,
  windowSeconds: number,
  nowMs: number,
): { outcomes: HitOutcome[]; added: number } {
  const windowMs = windowSeconds * 1000;
  const elapsed = nowMs % windowMs;
  const resetSeconds = Math.ceil((windowMs - elapsed) / 1000);
  let estimate = Math.floor((previous * (windowMs - elapsed)) / windowMs) + current;
  let added = 0;
  const outcomes = hits.map((h) => {
    if (estimate + h <= limit) {
      estimate += h;
      added += h;
      return { overLimit: false, remaining: limit - estimate, used: estimate, resetSeconds };
    }
    return { overLimit: true, remaining: Math.max(0, limit - estimate), used: estimate, resetSeconds };
  });
  return { outcomes, added };
}

/**
 * Token-bucket state in integer token-milliseconds: a full bucket holds `limit × windowMs` and refills
 * `limit` per millisecond, so `limit` tokens come back evenly over one unit, with no rounding.
 */
export function refilledTokens(
  tokens: number | undefined,
  lastMs: number | undefined,
  nowMs: number,
  limit: number,
  windowSeconds: number,
): number {
  const capacity = limit * windowSeconds * 1000;
  if (tokens === undefined || lastMs === undefined) return capacity;
  return nowMs > lastMs ? Math.min(capacity, tokens + (nowMs - lastMs) * limit) : tokens;
}

export function tokenBucketHits(
  tokensBefore: number,
  hits: readonly number[],
  limit: number,
  windowSeconds: number,
): { outcomes: HitOutcome[]; tokens: number } {
  const windowMs = windowSeconds * 1000;
  const capacity = limit * windowMs;
  let tokens = tokensBefore;
  const outcomes = hits.map((h) => {
    const cost = h * windowMs;
    const overLimit = tokens < cost;
    if (!overLimit) tokens -= cost;
    const remaining = Math.floor(tokens / windowMs);
    // Over: until this hit would fit. Within: until the bucket is full again.
    const missing = overLimit ? cost - tokens : capacity - tokens;
    const resetSeconds = limit === 0 ? windowSeconds : Math.ceil(missing / limit / 1000);
    return { overLimit, remaining, used: limit - remaining, resetSeconds };
  });
  return { outcomes, tokens };
}

/** A backend that keeps counters: Redis, or memory for the embedded default and exact tests. */
export interface CounterStore {
  /**
   * Applies each group's hits at `nowMs`; one outcome list per group, one outcome per hit, in order,
   * or the error that group's counter failed with (one Redis Cluster node down fails only its counters).
   */
  apply(groups: readonly CounterGroup[], nowMs: number): Promise<Array<HitOutcome[] | Error>>;
  close(): Promise<void>;
}
