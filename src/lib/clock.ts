/** A source of time. Everything that decides by time takes one, so tests can be exact. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** A scheduled callback. */
export interface Timer {
  /** Stops it; calling again, or after a one-shot timer fired, does nothing. */
  cancel(): void;
  /** Lets the process exit while this timer is pending (a no-op on a manual clock). */
  unref(): Timer;
}

/**
 * A clock that can also call back later. Everything that waits (debouncers, coalescers, sweeps,
 * keepalives, deadlines) takes one, so a test can drive it with `ManualClock` instead of waiting.
 */
export interface Timers extends Clock {
  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Calls `fn` every `ms` until cancelled. */
  setInterval(fn: () => void, ms: number): Timer;
}

function nodeTimer(handle: NodeJS.Timeout, clear: (h: NodeJS.Timeout) => void): Timer {
  const timer: Timer = {
    cancel: () => clear(handle),
    unref: () => {
      handle.unref();
      return timer;
    },
  };
  return timer;
}

/**
 * The longest delay Node's timers take. A longer one fires after 1 ms (with a TimeoutOverflowWarning):
 * a certificate renewed two thirds into a year-long life would be renewed again at once, forever.
 */
export const maxNodeTimerMs = 2 ** 31 - 1;

/** A one-shot timer of any length: Node's, chained in steps of at most `maxNodeTimerMs`. */
function longTimeout(fn: () => void, ms: number): Timer {
  let handle: NodeJS.Timeout;
  let unrefed = false;
  const arm = (left: number) => {
    handle =
      left > maxNodeTimerMs ? setTimeout(() => arm(left - maxNodeTimerMs), maxNodeTimerMs) : setTimeout(fn, left);
    if (unrefed) handle.unref();
  };
  arm(ms);
  const timer: Timer = {
    cancel: () => clearTimeout(handle),
    unref: () => {
      unrefed = true;
      handle.unref();
      return timer;
    },
  };
  return timer;
}

/** An interval of any length: one long timeout after another. */
function longInterval(fn: () => void, ms: number): Timer {
  let current: Timer;
  let unrefed = false;
  let cancelled = false;
  const arm = () => {
    current = longTimeout(() => {
      arm();
      fn();
    }, ms);
    if (unrefed) current.unref();
  };
  arm();
  const timer: Timer = {
    cancel: () => {
      cancelled = true;
      current.cancel();
    },
    unref: () => {
      unrefed = true;
      if (!cancelled) current.unref();
      return timer;
    },
  };
  return timer;
}

/** Wall-clock time and Node's timers (of any length). */
export const systemClock: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => (ms > maxNodeTimerMs ? longTimeout(fn, ms) : nodeTimer(setTimeout(fn, ms), clearTimeout)),
  setInterval: (fn, ms) => (ms > maxNodeTimerMs ? longInterval(fn, ms) : nodeTimer(setInterval(fn, ms), clearInterval)),
};

interface Scheduled {
  id: number;
  due: number;
  /** Repeat period for intervals; undefined for one-shot timers. */
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. For tests. Timers fire inside `advance`, in due order,
 * each with `now()` equal to its due time; timers they schedule within the step fire in it too.
 */
export class ManualClock implements Timers {
  #now: number;
  #nextId = 0;
  #pending: Scheduled[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError("a clock does not go back");
    const target = this.#now + ms;
    for (let next = this.#nextDue(target); next; next = this.#nextDue(target)) {
      this.#now = Math.max(this.#now, next.due);
      if (next.every === undefined) {
        next.cancelled = true;
        this.#pending = this.#pending.filter((t) => t !== next);
      } else {
        next.due += next.every;
      }
      next.fn();
    }
    this.#now = target;
  }

  /** Sets the time, forward or back, without firing timers (for tests of clock jumps). */
  set(ms: number): void {
    this.#now = ms;
  }

  /** How many timers are waiting to fire. */
  get pendingTimers(): number {
    return this.#pending.length;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#schedule(fn, Math.max(0, ms), undefined);
  }

  setInterval(fn: () => void, ms: number): Timer {
    // Node runs a 0 ms interval every 1 ms; so does this clock, so `advance` always ends.
    const every = Math.max(1, ms);
    return this.#schedule(fn, every, every);
  }

  #schedule(fn: () => void, delay: number, every: number | undefined): Timer {
    const entry: Scheduled = { id: this.#nextId++, due: this.#now + delay, every, fn, cancelled: false };
    this.#pending.push(entry);
    const timer: Timer = {
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.#pending = this.#pending.filter((t) => t !== entry);
      },
      unref: () => timer,
    };
    return timer;
  }

  #nextDue(limit: number): Scheduled | undefined {
    let best: Scheduled | undefined;
    for (const t of this.#pending) {
      if (t.due > limit) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }
}
