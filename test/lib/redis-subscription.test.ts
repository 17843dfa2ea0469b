import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import type { RedisClient } from "../../src/lib/redis.js";
import { RedisSubscription } from "../../src/lib/redis-subscription.js";

/** Just what a subscription uses of a connection: SUBSCRIBE, its status and its events. */
class FakeConnection extends EventEmitter {
  status = "connecting";
  attempts = 0;
  answer: "fail" | "ok" | "hang" = "fail";
  subscribe(): Promise<number> {
    this.attempts++;
    if (this.answer === "ok") return Promise.resolve(1);
    if (this.answer === "hang") return new Promise(() => {});
    return Promise.reject(new Error("Connection is closed."));
  }
  disconnect(): void {
    this.status = "end";
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("RedisSubscription", () => {
  it("retries a failed SUBSCRIBE with doubling back-off, at once on reconnect, and reports each change", async () => {
    const clock = new ManualClock(0);
    const connection = new FakeConnection();
    const states: boolean[] = [];
    const subscription = new RedisSubscription({
      client: connection as unknown as RedisClient,
      channel: "changes",
      timers: clock,
      backoff: { initialMs: 100, maxMs: 400 },
      onMessage: () => {},
      onState: (subscribed) => states.push(subscribed),
    });
    await settle();
    expect(connection.attempts).toBe(1);
    // Back-off: 100, 200, 400, 400 ms.
    for (const [step, attempts] of [
      [99, 1],
      [1, 2],
      [200, 3],
      [400, 4],
      [400, 5],
    ] as const) {
      clock.advance(step);
      await settle();
      expect(connection.attempts).toBe(attempts);
    }
    // Redis comes up: the connection's "ready" is tried at once, not at the end of the back-off.
    connection.answer = "ok";
    connection.status = "ready";
    connection.emit("ready");
    await settle();
    expect(connection.attempts).toBe(6);
    expect(subscription.subscribed).toBe(true);
    expect(states).toEqual([true]);
    // Dropped: reported, and retried (the first retry 100 ms later).
    connection.status = "reconnecting";
    connection.emit("close");
    expect(subscription.subscribed).toBe(false);
    expect(states).toEqual([true, false]);
    connection.status = "ready";
    clock.advance(100);
    await settle();
    expect(subscription.subscribed).toBe(true);
    expect(states).toEqual([true, false, true]);
    subscription.close();
  });

  it("gives up on a SUBSCRIBE that does not answer within its deadline, and tries again", async () => {
    const clock = new ManualClock(0);
    const connection = new FakeConnection();
    connection.status = "ready";
    connection.answer = "hang";
    const subscription = new RedisSubscription({
      client: connection as unknown as RedisClient,
      channel: "changes",
      timers: clock,
      subscribeTimeoutMs: 1_000,
      backoff: { initialMs: 100, maxMs: 100 },
      onMessage: () => {},
    });
    expect(connection.attempts).toBe(1);
    clock.advance(1_000);
    await settle();
    clock.advance(100);
    await settle();
    expect(connection.attempts).toBe(2);
    expect(subscription.subscribed).toBe(false);
    subscription.close();
  });
});
