import type { Clock } from "../lib/index.js";

/** Expired keys are swept once this many were added since the last sweep. */
const sweepEvery = 10_000;

/**
 * Fixed-window counters known to be over their limit, until their window ends. A hit on one is
 * answered OVER_LIMIT without asking the backend (and is not counted), as envoyproxy/ratelimit does.
 */
export class OverLimitCache {
  readonly #clock: Clock;
  readonly #until = new Map<string, number>();
  #addedSinceSweep = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  has(key: string): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > this.#clock.now()) return true;
    this.#until.delete(key);
    return false;
  }

  add(key: string, untilMs: number): void {
    this.#until.set(key, untilMs);
    if (++this.#addedSinceSweep >= sweepEvery) {
      const now = this.#clock.now();
      for (const [k, t] of this.#until) if (t <= now) this.#until.delete(k);
      this.#addedSinceSweep = 0;
    }
  }

  /** Forgets everything: a new config may have changed the limits. */
  clear(): void {
    this.#until.clear();
  }
}
