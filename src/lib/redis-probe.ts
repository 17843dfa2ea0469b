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

/**
 * Why Redis cannot serve now (connection closed, or no PONG within `timeoutMs`, the deadline its
 * callers have too), or undefined when it answers. For `/readyz`.
 */
export async function redisProblem(
  client: RedisClient,
  timeoutMs: number,
  timers: Timers = systemClock,
): Promise<string | undefined> {
  try {
    await pingRedis(client, timeoutMs, timers);
    return undefined;
  } catch (err) {
    // ioredis' own commandTimeout (the same deadline) may fire first.
    if (err instanceof DeadlineError || (err instanceof Error && err.message === "Command timed out")) {
      return `redis did not answer PING within ${timeoutMs} ms`;
    }
    return err instanceof Error ? err.message : String(err);
  }
}
