/** Timers, injected so tests drive time exactly. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface DebounceOptions {
  /** Run once no change has come for this long. */
  quietMs: number;
  /** ...but never later than this after the first change of a burst. */
  maxDelayMs: number;
  timers?: Timers;
}

/**
 * Collapses bursts of changes into one run: the run starts after `quietMs` without a change, or
 * `maxDelayMs` after the burst began, whichever is first. A change that arrives while a run is in
 * progress schedules exactly one more run after it; runs never overlap.
 */
export class Debouncer {
  readonly #run: () => Promise<void>;
  readonly #quietMs: number;
  readonly #maxDelayMs: number;
  readonly #timers: Timers;
  #timer: unknown;
  #burstStart: number | undefined;
  #running: Promise<void> | undefined;
  #pendingAfterRun = false;
  #stopped = false;

  constructor(run: () => Promise<void>, options: DebounceOptions) {
    this.#run = run;
    this.#quietMs = options.quietMs;
    this.#maxDelayMs = options.maxDelayMs;
    this.#timers = options.timers ?? systemTimers;
  }

  /** Notes a change. */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#pendingAfterRun = true;
      return;
    }
    const now = this.#timers.now();
    this.#burstStart ??= now;
    const delay = Math.max(0, Math.min(this.#quietMs, this.#burstStart + this.#maxDelayMs - now));
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => this.#fire(), delay);
  }

  /** Runs now if anything is pending, and resolves when no run is in progress. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#fire();
    }
    while (this.#running) await this.#running;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#burstStart = undefined;
    this.#running = this.#run()
      .catch(() => {
        // The run reports its own failures; a failed run must not stop later ones.
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#pendingAfterRun) {
          this.#pendingAfterRun = false;
          this.trigger();
        }
      });
  }
}
