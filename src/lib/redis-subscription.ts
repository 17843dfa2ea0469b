import type { Timer, Timers } from "./clock.js";
import { withDeadline } from "./deadline.js";
import type { Logger } from "./logger.js";
import type { RedisClient } from "./redis.js";

export interface RedisSubscriptionOptions {
  /** A connection of its own (a subscribed connection can send nothing else). */
  client: RedisClient;
  channel: string;
  onMessage(message: string): void;
  /** Called on each change: true once SUBSCRIBE is confirmed, false when the connection drops. */
  onState?(subscribed: boolean): void;
  /** Times the back-off between attempts. */
  timers: Timers;
  /** Bound on one SUBSCRIBE. Default 1,000 ms. */
  subscribeTimeoutMs?: number;
  /** Back-off between failed attempts: doubles from `initialMs` to at most `maxMs`. Default 100 ms to 5 s. */
  backoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

/**
 * One channel subscribed for as long as this object lives. A Redis that starts late, a SUBSCRIBE
 * that fails or times out, a connection that drops: each is retried with back-off until the
 * subscription is confirmed again, and every change of state is reported, so the owner can decide
 * what it trusts meanwhile (messages published while not subscribed are lost).
 */
export class RedisSubscription {
  readonly #options: RedisSubscriptionOptions;
  readonly #timeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  #subscribed = false;
  #inFlight = false;
  #closed = false;
  #failures = 0;
  #retry: Timer | undefined;
  #waiters: Array<() => void> = [];

  constructor(options: RedisSubscriptionOptions) {
    this.#options = options;
    this.#timeoutMs = options.subscribeTimeoutMs ?? 1_000;
    this.#backoff = options.backoff ?? { initialMs: 100, maxMs: 5_000 };
    const { client } = options;
    client.on("message", (channel: string, message: string) => {
      if (channel === options.channel) options.onMessage(message);
    });
    client.on("close", () => this.#lost());
    // A reconnected connection is worth trying at once rather than at the end of a long back-off.
    client.on("ready", () => {
      this.#failures = 0;
      this.#attemptNow();
    });
    this.#attempt();
  }

  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Resolves once subscribed (at once if it is now). */
  whenSubscribed(): Promise<void> {
    if (this.#subscribed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    this.#retry?.cancel();
    this.#options.client.disconnect();
  }

  #attemptNow(): void {
    this.#retry?.cancel();
    this.#retry = undefined;
    this.#attempt();
  }

  #attempt(): void {
    if (this.#closed || this.#inFlight || this.#subscribed) return;
    this.#inFlight = true;
    const { client, channel } = this.#options;
    withDeadline(client.subscribe(channel), this.#timeoutMs, `SUBSCRIBE ${channel}`, this.#options.timers).then(
      () => {
        this.#inFlight = false;
        if (this.#closed || client.status !== "ready") return this.#scheduleRetry();
        this.#failures = 0;
        this.#setState(true);
        for (const resolve of this.#waiters.splice(0)) resolve();
      },
      (err: unknown) => {
        this.#inFlight = false;
        if (this.#failures === 0) {
          this.#options.logger?.warn({ err, channel }, "redis subscription failed; retrying with back-off");
        }
        this.#scheduleRetry();
      },
    );
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retry) return;
    const { initialMs, maxMs } = this.#backoff;
    const delay = Math.min(initialMs * 2 ** Math.min(this.#failures, 20), maxMs);
    this.#failures++;
    this.#retry = this.#options.timers.setTimeout(() => {
      this.#retry = undefined;
      this.#attempt();
    }, delay);
    this.#retry.unref();
  }

  #lost(): void {
    if (this.#closed) return;
    this.#setState(false);
    this.#scheduleRetry();
  }

  #setState(subscribed: boolean): void {
    if (this.#subscribed === subscribed) return;
    this.#subscribed = subscribed;
    if (subscribed) this.#options.logger?.info({ channel: this.#options.channel }, "redis subscription established");
    else this.#options.logger?.warn({ channel: this.#options.channel }, "redis subscription lost");
    this.#options.onState?.(subscribed);
  }
}
