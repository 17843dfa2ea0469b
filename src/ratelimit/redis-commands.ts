import { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { CommandReply, SlottedCommand } from "../lib/index.js";
import {
  type CounterGroup,
  fixedWindowHits,
  fixedWindowKey,
  type HitOutcome,
  slidingWindowHits,
  slidingWindowKeys,
  tokenBucketHits,
  tokenBucketKey,
} from "./algorithms.js";

/**
 * The fixed window is envoyproxy/ratelimit's INCRBY + EXPIRE on the same keys, in one script call for
 * all the counters of a batch that may share one (all of them on a single node; those of one hash slot
 * on a Cluster).
 * The other algorithms are one Lua script each, atomic; a script takes every coalesced hit of one
 * counter at once and returns the state it found, so the outcomes are replayed in TypeScript by the
 * same functions the memory store uses.
 */
export const scripts = {
  /** KEYS the fixed-window counters; ARGV hits and window seconds for each key in turn. Returns the counts after. */
  gantryRlFixed: {
    lua: `local counts = {}
for i = 1, #KEYS do
  counts[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
end
return counts`,
  },
  /**
   * The fixed-window counters of one Cluster node, whatever their slots (Redis 7's allow-cross-slot-keys):
   * KEYS[1] the first counter, which routes the call; ARGV the count n, the other n - 1 keys (with the
   * client's key prefix, which ioredis adds to KEYS only), then hits and window seconds for each key.
   * Every key is read before any is written: a key this node does not serve (a slot moved or moving)
   * fails the call right there, with nothing written, so it can be sent again another way.
   */
  gantryRlFixedNode: {
    numberOfKeys: 1,
    lua: `#!lua flags=allow-cross-slot-keys
local n = tonumber(ARGV[1])
local keys = {KEYS[1]}
for i = 2, n do keys[i] = ARGV[i] end
for i = 1, n do redis.call('EXISTS', keys[i]) end
local counts = {}
for i = 1, n do
  local at = n + 2 * i - 1
  counts[i] = redis.call('INCRBY', keys[i], ARGV[at])
  redis.call('EXPIRE', keys[i], ARGV[at + 1])
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

export type CommandName = keyof typeof scripts;
export type ScriptDefinition = { lua: string; numberOfKeys?: number };
export type Invoker = { [K in CommandName]: (...args: ReadonlyArray<string | number>) => unknown };

/** A group's answer from the replies of the commands it was counted by, or why it could not be counted. */
export type GroupReader = (replies: readonly CommandReply[]) => HitOutcome[] | Error;

function asNumber(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) throw new Error(`unexpected reply from Redis: ${String(value)}`);
  return n;
}

/** The value of reply `i`, or the error it failed with. */
function replyValue(replies: readonly CommandReply[], i: number): unknown {
  const [err, value] = replies[i] ?? [new Error("no reply from Redis"), null];
  if (err) throw err;
  return value;
}

function reading(read: (replies: readonly CommandReply[]) => HitOutcome[]): GroupReader {
  return (replies) => {
    try {
      return read(replies);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
}

/** The fixed-window counters that share one script call, and where each one's count comes back. */
interface FixedCall {
  readonly command: number;
  readonly keys: string[];
  readonly argv: Array<string | number>;
}

/**
 * How fixed-window counters share script calls: all in one (a single node); one call per Cluster node
 * (`node` names it, `prefix` is the client's key prefix); one call per hash slot (a Cluster node older
 * than Redis 7, or a node call refused because the client's slot map was stale).
 */
export type FixedBatching =
  | { readonly kind: "one" }
  | { readonly kind: "node"; readonly node: (key: string) => string; readonly prefix: string }
  | { readonly kind: "slot"; readonly slot: (key: string) => number };

/** One batch as commands, and how each group reads its outcomes back from their replies. */
export interface Plan {
  readonly commands: SlottedCommand[];
  readonly readers: GroupReader[];
}

/**
 * One batch as commands: the fixed-window counters that may share a script call share it (see
 * `FixedBatching`), each other counter is a script call of its own.
 */
export function plan(groups: readonly CounterGroup[], nowMs: number, batching: FixedBatching): Plan {
  const commands: SlottedCommand[] = [];
  const calls = new Map<string | number, FixedCall>();
  const bucketOf = (key: string): string | number =>
    batching.kind === "node" ? batching.node(key) : batching.kind === "slot" ? batching.slot(key) : 0;
  const readers = groups.map((group): GroupReader => {
    const { limit, windowSeconds, hits } = group;
    const windowMs = windowSeconds * 1000;
    switch (group.algorithm) {
      case RateLimitAlgorithm.SLIDING_WINDOW: {
        const [current, previous] = slidingWindowKeys(group, nowMs);
        const at = commands.length;
        commands.push({
          name: "gantryRlSliding",
          key: current,
          args: [current, previous, limit, windowMs, nowMs % windowMs, ...hits],
        });
        return reading((replies) => {
          const [prev, curr] = replyValue(replies, at) as [unknown, unknown];
          return slidingWindowHits(asNumber(prev), asNumber(curr), hits, limit, windowSeconds, nowMs).outcomes;
        });
      }
      case RateLimitAlgorithm.TOKEN_BUCKET: {
        const key = tokenBucketKey(group);
        const at = commands.length;
        commands.push({ name: "gantryRlToken", key, args: [key, limit, windowMs, nowMs, ...hits] });
        return reading(
          (replies) => tokenBucketHits(asNumber(replyValue(replies, at)), hits, limit, windowSeconds).outcomes,
        );
      }
      default: {
        const total = hits.reduce((sum, h) => sum + h, 0);
        const key = fixedWindowKey(group, nowMs);
        const bucket = bucketOf(key);
        let call = calls.get(bucket);
        if (!call) {
          call = { command: commands.length, keys: [], argv: [] };
          calls.set(bucket, call);
          // Its arguments are filled in below, once every key of the bucket is known.
          commands.push({ name: batching.kind === "node" ? "gantryRlFixedNode" : "gantryRlFixed", key, args: [] });
        }
        const { command, keys } = call;
        const position = keys.length;
        keys.push(key);
        call.argv.push(total, windowSeconds);
        return reading((replies) => {
          const counts = replyValue(replies, command);
          if (!Array.isArray(counts) || counts.length !== keys.length) {
            throw new Error("unexpected reply from Redis to the fixed-window script");
          }
          return fixedWindowHits(asNumber(counts[position]) - total, hits, limit, windowSeconds, nowMs);
        });
      }
    }
  });
  for (const { command, keys, argv } of calls.values()) {
    const planned = commands[command] as SlottedCommand;
    const args =
      batching.kind === "node"
        ? [keys[0] as string, keys.length, ...keys.slice(1).map((k) => batching.prefix + k), ...argv]
        : [keys.length, ...keys, ...argv];
    commands[command] = { ...planned, args };
  }
  return { commands, readers };
}

/**
 * A node call Redis refused before it wrote anything: a key the node does not serve (the client's slot
 * map was stale), or a Redis older than 7.0 that does not know the script's flags.
 */
export function refusedNodeCall(err: Error): boolean {
  return /non local key|Error compiling script|shebang|Unexpected flag|Unknown lua/i.test(err.message);
}
