/** A source of time. Everything that decides by time takes one, so tests can be exact. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. For tests. */
export class ManualClock implements Clock {
  #now: number;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError("a clock does not go back");
    this.#now += ms;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}
