import { systemClock, type Timers } from "./clock.js";
import { DeadlineError, withDeadline } from "./deadline.js";
import type { RedisClient } from "./redis.js";

/**
 * Resolves when Redis answers PING within `timeoutMs`; rejects otherwise. A closed connection and a
 * hung Redis (socket open, no answer) both fail it; a look at the connection status misses the second.
 * The explicit deadline also covers connections created without ioredis' commandTimeout.
 */
export async function pingRedis(client: RedisClient, timeoutMs: number, timers: Timers = systemClock): Promise<void> {
  if (client.status !== "ready") throw new Error(`redis connection is ${client.status}`);
  const reply = await withDeadline(client.ping(), timeoutMs, "redis PING", timers);
  if (reply !== "PONG") throw new Error(`redis answered PING with ${String(reply)}`);
}

/** A readiness probe's PING waits at least this long, so a busy host does not flap `/readyz`. */
const minProbeMs = 100;

/**
 * Why Redis cannot serve now (connection closed, or no PONG within the deadline), or undefined
 * when it answers. For `/readyz`: the PING waits for `max(timeoutMs, 100 ms)`.
 */
export async function redisProblem(
  client: RedisClient,
  timeoutMs: number,
  timers: Timers = systemClock,
): Promise<string | undefined> {
  const bound = Math.max(timeoutMs, minProbeMs);
  try {
    await pingRedis(client, bound, timers);
    return undefined;
  } catch (err) {
    if (err instanceof DeadlineError) return `redis did not answer PING within ${bound} ms`;
    return err instanceof Error ? err.message : String(err);
  }
}
