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
 * The fixed window is envoyproxy/ratelimit's INCRBY + EXPIRE on the same keys. On a Cluster each
 * counter sends them as native commands; on one node a batch's counters share one script call.
 * The other algorithms are one Lua script each, atomic; a script takes every coalesced hit of one
 * counter at once and returns the state it found, so the outcomes are replayed in TypeScript by the
 * same functions the memory store uses.
 */
const scripts = {
  /** KEYS the fixed-window counters; ARGV hits and window seconds for each key in turn. Returns the counts after. */
  gantryRlFixed: {
    lua: `local counts = {}
for i = 1, #KEYS do
  counts[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
end
return counts`,
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

type CommandName = keyof typeof scripts | "incrby" | "expire";
type ScriptDefinition = { lua: string; numberOfKeys?: number };
type Invoker = { [K in CommandName]: (...args: Array<string | number>) => unknown };

interface Command {
  name: CommandName;
  args: Array<string | number>;
}

/** The Redis commands for one counter group, and how to read the outcomes from their replies. */
interface PreparedCall {
  commands: Command[];
  outcomes(replies: readonly unknown[]): HitOutcome[];
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
        commands: [{ name: "gantryRlSliding", args: [current, previous, limit, windowMs, nowMs % windowMs, ...hits] }],
        outcomes: ([result]) => {
          const [prev, curr] = result as [unknown, unknown];
          return slidingWindowHits(asNumber(prev), asNumber(curr), hits, limit, windowSeconds, nowMs).outcomes;
        },
      };
    }
    case RateLimitAlgorithm.TOKEN_BUCKET:
      return {
        commands: [{ name: "gantryRlToken", args: [tokenBucketKey(group), limit, windowMs, nowMs, ...hits] }],
        outcomes: ([result]) => tokenBucketHits(asNumber(result), hits, limit, windowSeconds).outcomes,
      };
    default: {
      const total = hits.reduce((sum, h) => sum + h, 0);
      const key = fixedWindowKey(group, nowMs);
      return {
        commands: [
          { name: "incrby", args: [key, total] },
          { name: "expire", args: [key, windowSeconds] },
        ],
        outcomes: ([count]) => fixedWindowHits(asNumber(count) - total, hits, limit, windowSeconds, nowMs),
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
    for (const [name, definition] of Object.entries(scripts) as [string, ScriptDefinition][]) {
      client.defineCommand(name, definition);
    }
  }

  async apply(groups: readonly CounterGroup[], nowMs: number): Promise<HitOutcome[][]> {
    if (this.#cluster) {
      const prepared = groups.map((group) => prepare(group, nowMs));
      const invoker = this.#client as unknown as Invoker;
      const replies = await Promise.all(
        prepared.map((call) => Promise.all(call.commands.map((c) => invoker[c.name](...c.args)))),
      );
      return prepared.map((call, i) => call.outcomes(replies[i] ?? []));
    }
    // On one node, every fixed-window counter of the batch goes in one script call: one command to
    // build, send and parse instead of two per counter. The other algorithms follow in the same pipeline.
    const fixed: { index: number; total: number; group: CounterGroup }[] = [];
    const fixedArgs: Array<string | number> = [];
    const calls = groups.map((group, index) => {
      if (
        group.algorithm === RateLimitAlgorithm.SLIDING_WINDOW ||
        group.algorithm === RateLimitAlgorithm.TOKEN_BUCKET
      ) {
        return prepare(group, nowMs);
      }
      const total = group.hits.reduce((sum, h) => sum + h, 0);
      fixed.push({ index, total, group });
      fixedArgs.push(fixedWindowKey(group, nowMs));
      return undefined;
    });
    const pipeline = this.#client.pipeline();
    const invoker = pipeline as unknown as Invoker;
    if (fixed.length > 0) {
      for (const { total, group } of fixed) fixedArgs.push(total, group.windowSeconds);
      invoker.gantryRlFixed(fixed.length, ...fixedArgs);
    }
    for (const call of calls) if (call) for (const c of call.commands) invoker[c.name](...c.args);
    const replies = (await pipeline.exec()) ?? [];
    const reply = (i: number): unknown => {
      const [err, result] = replies[i] ?? [new Error("no reply from Redis"), null];
      if (err) throw err;
      return result;
    };
    const outcomes: HitOutcome[][] = new Array(groups.length);
    let next = 0;
    if (fixed.length > 0) {
      const counts = reply(next++);
      if (!Array.isArray(counts) || counts.length !== fixed.length) {
        throw new Error("unexpected reply from Redis to the fixed-window script");
      }
      fixed.forEach(({ index, total, group }, i) => {
        outcomes[index] = fixedWindowHits(
          asNumber(counts[i]) - total,
          group.hits,
          group.limit,
          group.windowSeconds,
          nowMs,
        );
      });
    }
    calls.forEach((call, index) => {
      if (call) outcomes[index] = call.outcomes(call.commands.map(() => reply(next++)));
    });
    return outcomes;
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
