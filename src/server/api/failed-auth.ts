import type { Clock } from "../../lib/clock.js";

/** One client's budget of failures: a token bucket that refills at the allowed rate. */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Limits failed authentications per client address, so a token cannot be guessed at line rate.
 * Each address has a bucket of `perMinute` failures refilled at `perMinute` a minute; a client
 * whose bucket is empty is refused without its token being compared, until a failure is allowed
 * again. A successful call costs nothing.
 *
 * The table is bounded: addresses whose bucket is full again are forgotten, and past `maxClients`
 * the one that failed least recently is dropped (its budget starts over, which only helps a
 * client that already waited longest).
 */
export class FailedAuthLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #clock: Clock;
  /** In order of last failure (a Map keeps insertion order; a failure re-inserts). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: { perMinute: number; maxClients?: number; clock: Clock }) {
    this.#burst = options.perMinute;
    this.#perMs = options.perMinute / 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock;
  }

  /** Milliseconds until `client` may try again; 0 when it may now. */
  retryAfterMs(client: string): number {
    const tokens = this.#tokens(client);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs);
  }

  /** Spends one failure of `client`'s budget. */
  recordFailure(client: string): void {
    const tokens = Math.max(0, this.#tokens(client) - 1);
    this.#buckets.delete(client);
    if (this.#buckets.size >= this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    this.#buckets.set(client, { tokens, at: this.#clock.now() });
  }

  /** Addresses currently tracked (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #tokens(client: string): number {
    const bucket = this.#buckets.get(client);
    if (!bucket) return this.#burst;
    const tokens = Math.min(this.#burst, bucket.tokens + (this.#clock.now() - bucket.at) * this.#perMs);
    if (tokens >= this.#burst) this.#buckets.delete(client);
    return tokens;
  }
}
