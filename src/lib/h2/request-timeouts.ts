import type { Timer, Timers } from "../clock.js";

/** How often incomplete requests are checked against the request timeout, at most. */
const sweepEveryMs = 1_000;

/** A connection whose incomplete requests a sweep checks. */
export interface SweptConnection {
  /** Resets the requests whose headers arrived at or before `openedBy` and whose body has not ended. */
  resetIncomplete(openedBy: number): void;
}

/**
 * One sweep for the request timeout of every connection of a server: a request whose body has not ended
 * `timeoutMs` after its headers is reset, within one sweep period after that. A timer per server rather
 * than per connection; it runs only while there are connections.
 */
export class RequestTimeouts {
  readonly #connections = new Set<SweptConnection>();
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #every: number;
  #timer: Timer | undefined;

  constructor(timers: Timers, timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new RangeError(`request timeout must be above 0 ms, not ${timeoutMs}`);
    this.#timers = timers;
    this.#timeoutMs = timeoutMs;
    this.#every = Math.min(sweepEveryMs, timeoutMs);
  }

  /** The time a request opening now is stamped with. */
  now(): number {
    return this.#timers.now();
  }

  watch(connection: SweptConnection): void {
    this.#connections.add(connection);
    if (!this.#timer) this.#timer = this.#timers.setInterval(() => this.#sweep(), this.#every).unref();
  }

  unwatch(connection: SweptConnection): void {
    this.#connections.delete(connection);
    if (this.#connections.size === 0 && this.#timer) {
      this.#timer.cancel();
      this.#timer = undefined;
    }
  }

  #sweep(): void {
    const openedBy = this.#timers.now() - this.#timeoutMs;
    for (const connection of this.#connections) connection.resetIncomplete(openedBy);
  }
}
