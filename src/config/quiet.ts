import type { Timer, Timers } from "../lib/clock.js";

export interface QuietPeriodOptions {
  /** Fire once no trigger has come for this long... */
  quietMs: number;
  /** ...but never later than this after the first trigger of a burst. Unbounded when absent. */
  maxDelayMs?: number | undefined;
  timers: Timers;
}

/**
 * Turns a burst of file-system events into one call: editors and ConfigMap updates write in
 * several steps, and reading between them would see half a change.
 */
export class QuietPeriod {
  readonly #fire: () => void;
  readonly #options: QuietPeriodOptions;
  #timer: Timer | undefined;
  #burstStart: number | undefined;

  constructor(fire: () => void, options: QuietPeriodOptions) {
    this.#fire = fire;
    this.#options = options;
  }

  trigger(): void {
    const { quietMs, maxDelayMs, timers } = this.#options;
    const now = timers.now();
    this.#burstStart ??= now;
    const delay =
      maxDelayMs === undefined ? quietMs : Math.max(0, Math.min(quietMs, this.#burstStart + maxDelayMs - now));
    this.#timer?.cancel();
    this.#timer = timers
      .setTimeout(() => {
        this.#timer = undefined;
        this.#burstStart = undefined;
        this.#fire();
      }, delay)
      .unref();
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#burstStart = undefined;
  }
}
