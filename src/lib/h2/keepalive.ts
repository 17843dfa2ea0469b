import type { Timer, Timers } from "../clock.js";

/**
 * Keepalive pings for one connection: every `everyMs` a PING goes out (unless one is still unanswered),
 * and a peer that does not acknowledge it within `timeoutMs` is dropped.
 */
export class Keepalive {
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #interval: Timer;
  #waiting: Timer | undefined;

  constructor(timers: Timers, everyMs: number, timeoutMs: number, ping: () => boolean, drop: () => void) {
    this.#timers = timers;
    this.#timeoutMs = timeoutMs;
    this.#interval = timers
      .setInterval(() => {
        if (this.#waiting || !ping()) return;
        this.#waiting = this.#timers.setTimeout(drop, this.#timeoutMs).unref();
      }, everyMs)
      .unref();
  }

  /** The peer acknowledged a PING. */
  acknowledged(): void {
    this.#waiting?.cancel();
    this.#waiting = undefined;
  }

  stop(): void {
    this.#interval.cancel();
    this.acknowledged();
  }
}
