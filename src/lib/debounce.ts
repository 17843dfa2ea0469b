// The one debouncer: the server's translations, the agent's discovery and the config providers'
// reloads (editors and ConfigMap updates write in several steps; reading between them would see half
// a change) all collapse bursts of changes with it.
import { systemClock, type Timer, type Timers } from "./clock.js";

export interface DebounceOptions {
  /** Run once no change has come for this long. */
  quietMs: number;
  /** ...but never later than this after the first change of a burst. Unbounded when absent. */
  maxDelayMs?: number | undefined;
  /**
   * Run a change that comes after a quiet period at once (on the next timer turn, so that changes made in the
   * same turn join it), and debounce only the changes that follow it: a lone change is not delayed by `quietMs`,
   * a burst still runs about once per `quietMs`. Default false.
   */
  leading?: boolean;
  /** Default the system clock. */
  timers?: Timers;
}

/**
 * Collapses bursts of changes into one run: the run starts after `quietMs` without a change, or
 * `maxDelayMs` after the burst began, whichever is first. A change that arrives while a run is in
 * progress schedules exactly one more run after it; runs never overlap. With `leading`, a change after
 * `quietMs` of calm runs at once (Contour's event handler does the same with its hold-off delay).
 * Its timers never keep a process alive: their owners' sockets and watchers do.
 */
export class Debouncer {
  readonly #run: () => Promise<void>;
  readonly #quietMs: number;
  readonly #maxDelayMs: number | undefined;
  readonly #timers: Timers;
  readonly #leading: boolean;
  #timer: Timer | undefined;
  #lastRunAt: number | undefined;
  #leadingDue = false;
  #burstStart: number | undefined;
  #running: Promise<void> | undefined;
  #pendingAfterRun = false;
  #stopped = false;
  /** Told when the run in progress, or the leading run about to start, has ended. */
  #afterRun: Array<() => void> = [];

  constructor(run: () => Promise<void>, options: DebounceOptions) {
    this.#run = run;
    this.#quietMs = options.quietMs;
    this.#maxDelayMs = options.maxDelayMs;
    this.#timers = options.timers ?? systemClock;
    this.#leading = options.leading ?? false;
  }

  /** Notes a change. */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#pendingAfterRun = true;
      return;
    }
    const now = this.#timers.now();
    const calm = this.#lastRunAt === undefined || now - this.#lastRunAt >= this.#quietMs;
    if (this.#leadingDue) return; // joins the run about to start
    if (this.#leading && this.#timer === undefined && calm) {
      this.#leadingDue = true;
      this.#timer = this.#timers.setTimeout(() => this.#fire(), 0).unref();
      return;
    }
    this.#burstStart ??= now;
    const delay =
      this.#maxDelayMs === undefined
        ? this.#quietMs
        : Math.max(0, Math.min(this.#quietMs, this.#burstStart + this.#maxDelayMs - now));
    this.#timer?.cancel();
    this.#timer = this.#timers.setTimeout(() => this.#fire(), delay).unref();
  }

  /**
   * Resolves once the run in progress, or the leading run about to start, has ended; at once when
   * neither is (a change in a burst waits for calm, and a caller should not wait with it).
   */
  imminentRun(): Promise<void> {
    if (!this.#leadingDue && this.#running === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#afterRun.push(resolve));
  }

  /** Runs now if anything is pending, and resolves when no run is in progress. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#timer.cancel();
      this.#fire();
    }
    while (this.#running) await this.#running;
  }

  /** Runs nothing more (a run in progress ends on its own). */
  stop(): void {
    this.#stopped = true;
    this.#leadingDue = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#burstStart = undefined;
    this.#tellAfterRun();
  }

  #tellAfterRun(): void {
    const waiting = this.#afterRun;
    this.#afterRun = [];
    for (const resolve of waiting) resolve();
  }

  #fire(): void {
    this.#lastRunAt = this.#timers.now();
    this.#leadingDue = false;
    this.#timer = undefined;
    this.#burstStart = undefined;
    this.#running = this.#run()
      .catch(() => {
        // The run reports its own failures; a failed run must not stop later ones.
      })
      .finally(() => {
        this.#running = undefined;
        this.#tellAfterRun();
        if (this.#pendingAfterRun) {
          this.#pendingAfterRun = false;
          this.trigger();
        }
      });
  }
}
