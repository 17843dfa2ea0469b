import { Cluster } from "ioredis";
import { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { RedisClient } from "../lib/index.js";
import {
  type CounterGroup,
  type CounterStore,
  fixedWindowHits,
  fixedWindowKey,
  type HitOutcome,
  slidingWindowHits,
  slidingWindowKeys,
  tokenBucketHits,
  tokenBucketKey,
} from "./algorithms.js";

/**
 * Each script takes every coalesced hit of one counter at once and returns the state it found, so
 * the outcomes are replayed in TypeScript by the same functions the memory store uses.
 */
const scripts = {
  /** KEYS[1] the window's counter; ARGV total hits, window seconds. Returns the count after. */
  gantryRlFixed: {
    numberOfKeys: 1,
    lua: `local c = redis.call('INCRBY', KEYS[1], ARGV[1])
if c == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return c`,
  },
  /** KEYS current, previous window; ARGV limit, window ms, ms elapsed in the window, hits… Returns {previous, current}. */
  gantryRlSliding: {
    numberOfKeys: 2,
    lua: `local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local estimate = math.floor(prev * (w - elapsed) / w) + curr
local added = 0
for i = 4, #ARGV do
  local h = tonumber(ARGV[i])
  if estimate + h <= limit then
    estimate = estimate + h
    added = added + h
  end
end
if added > 0 then
  redis.call('INCRBY', KEYS[1], added)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
end
return {prev, curr}`,
  },
  /** KEYS[1] the bucket; ARGV limit, window ms, now ms, hits… Returns the refilled tokens before the hits. */
  gantryRlToken: {
    numberOfKeys: 1,
    lua: `local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local capacity = limit * w
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
elseif now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * limit)
  ts = now
end
local before = tokens
for i = 4, #ARGV do
  local cost = tonumber(ARGV[i]) * w
  if tokens >= cost then tokens = tokens - cost end
end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], w)
return before`,
  },
} as const;

type ScriptName = keyof typeof scripts;
type ScriptCall = (...args: Array<string | number>) => Promise<unknown>;
type Invoker = { [K in ScriptName]: ScriptCall };

interface PreparedCall {
  script: ScriptName;
  args: Array<string | number>;
  outcomes(result: unknown): HitOutcome[];
}

function asNumber(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) throw new Error(`unexpected reply from Redis: ${String(value)}`);
  return n;
}

function prepare(group: CounterGroup, nowMs: number): PreparedCall {
  const { limit, windowSeconds, hits } = group;
  const windowMs = windowSeconds * 1000;
  switch (group.algorithm) {
    case RateLimitAlgorithm.SLIDING_WINDOW: {
      const [current, previous] = slidingWindowKeys(group, nowMs);
      return {
        script: "gantryRlSliding",
        args: [current, previous, limit, windowMs, nowMs % windowMs, ...hits],
        outcomes: (result) => {
          const [prev, curr] = result as [unknown, unknown];
          return slidingWindowHits(asNumber(prev), asNumber(curr), hits, limit, windowSeconds, nowMs).outcomes;
        },
      };
    }
    case RateLimitAlgorithm.TOKEN_BUCKET:
      return {
        script: "gantryRlToken",
        args: [tokenBucketKey(group), limit, windowMs, nowMs, ...hits],
        outcomes: (result) => tokenBucketHits(asNumber(result), hits, limit, windowSeconds).outcomes,
      };
    default: {
      const total = hits.reduce((sum, h) => sum + h, 0);
      return {
        script: "gantryRlFixed",
        args: [fixedWindowKey(group, nowMs), total, windowSeconds],
        outcomes: (result) => fixedWindowHits(asNumber(result) - total, hits, limit, windowSeconds, nowMs),
      };
    }
  }
}

/**
 * Counters in Redis (single node, Sentinel or Cluster). One event-loop turn's counters go out as one
 * pipeline on a single node; on a Cluster each goes to its slot's node (a pipeline may not span nodes).
 */
export class RedisCounterStore implements CounterStore {
  readonly #client: RedisClient;
  readonly #cluster: boolean;

  constructor(client: RedisClient) {
    this.#client = client;
    this.#cluster = client instanceof Cluster;
    for (const [name, definition] of Object.entries(scripts)) client.defineCommand(name, definition);
  }

  async apply(groups: readonly CounterGroup[], nowMs: number): Promise<HitOutcome[][]> {
    const calls = groups.map((group) => prepare(group, nowMs));
    if (this.#cluster || calls.length === 1) {
      const invoker = this.#client as unknown as Invoker;
      const results = await Promise.all(calls.map((call) => invoker[call.script](...call.args)));
      return calls.map((call, i) => call.outcomes(results[i]));
    }
    const pipeline = this.#client.pipeline();
    const invoker = pipeline as unknown as Invoker;
    for (const call of calls) void invoker[call.script](...call.args);
    const replies = (await pipeline.exec()) ?? [];
    return calls.map((call, i) => {
      const [err, result] = replies[i] ?? [new Error("no reply from Redis"), null];
      if (err) throw err;
      return call.outcomes(result);
    });
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
