import { Cluster } from "ioredis";
import { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { type CommandReply, execPerNode, keySlot, type RedisClient, type SlottedCommand } from "../lib/index.js";
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
 * The fixed window is envoyproxy/ratelimit's INCRBY + EXPIRE on the same keys, in one script call for
 * all the counters of a batch that may share one (all of them on a single node; those of one hash slot
 * on a Cluster).
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

type CommandName = keyof typeof scripts;
type ScriptDefinition = { lua: string; numberOfKeys?: number };
type Invoker = { [K in CommandName]: (...args: ReadonlyArray<string | number>) => unknown };

/** A group's answer from the replies of the commands it was counted by, or why it could not be counted. */
type GroupReader = (replies: readonly CommandReply[]) => HitOutcome[] | Error;

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
 * One batch as commands: every fixed-window counter that shares a script call's bucket goes in that
 * call (one bucket on a single node; one per hash slot on a Cluster, since a script's keys must share a
 * slot there), each other counter in a script call of its own.
 */
function plan(
  groups: readonly CounterGroup[],
  nowMs: number,
  bucketOf: ((key: string) => number) | undefined,
): { commands: SlottedCommand[]; readers: GroupReader[] } {
  const commands: SlottedCommand[] = [];
  const calls = new Map<number, FixedCall>();
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
        const bucket = bucketOf ? bucketOf(key) : 0;
        let call = calls.get(bucket);
        if (!call) {
          call = { command: commands.length, keys: [], argv: [] };
          calls.set(bucket, call);
          // Its arguments are filled in below, once every key of the bucket is known.
          commands.push({ name: "gantryRlFixed", key, args: [] });
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
    commands[command] = { ...planned, args: [keys.length, ...keys, ...argv] };
  }
  return { commands, readers };
}

/**
 * Counters in Redis (single node, Sentinel or Cluster). One event-loop turn's counters go out as one
 * pipeline on a single node; on a Cluster as one pipeline per node, each counter sent to its slot's node.
 * A counter whose commands failed gets its error; the others of the batch are answered.
 */
export class RedisCounterStore implements CounterStore {
  readonly #client: RedisClient;
  readonly #cluster: Cluster | undefined;
  readonly #keyPrefix: string;

  constructor(client: RedisClient) {
    this.#client = client;
    this.#cluster = client instanceof Cluster ? client : undefined;
    this.#keyPrefix = client.options.keyPrefix ?? "";
    for (const [name, definition] of Object.entries(scripts) as [string, ScriptDefinition][]) {
      client.defineCommand(name, definition);
    }
  }

  async apply(groups: readonly CounterGroup[], nowMs: number): Promise<Array<HitOutcome[] | Error>> {
    const cluster = this.#cluster;
    const prefix = this.#keyPrefix;
    const { commands, readers } = plan(groups, nowMs, cluster ? (key) => keySlot(prefix + key) : undefined);
    let replies: readonly CommandReply[];
    if (cluster) {
      replies = await execPerNode(cluster, commands);
    } else {
      const pipeline = this.#client.pipeline();
      const invoker = pipeline as unknown as Invoker;
      for (const c of commands) invoker[c.name as CommandName](...c.args);
      replies = (await pipeline.exec()) ?? [];
    }
    return readers.map((read) => read(replies));
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
