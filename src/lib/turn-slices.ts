import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * Work through a long list a slice of the event loop at a time: `maybeYield` between items gives the
 * loop back once `sliceMs` of work has gone by, so calls and xDS pushes waiting on it are served in
 * between. A long job then takes a little longer, and no one else waits more than about one slice.
 */
export class TurnSlices {
  readonly #sliceMs: number;
  readonly #now: () => number;
  #turnStart: number;

  constructor(sliceMs = 4, now: () => number = () => performance.now()) {
    this.#sliceMs = sliceMs;
    this.#now = now;
    this.#turnStart = now();
  }

  /** Yields to the event loop if this turn's slice is spent; otherwise resolves at once (no turn lost). */
  maybeYield(): Promise<void> | undefined {
    if (this.#now() - this.#turnStart < this.#sliceMs) return undefined;
    return nextTurn().then(() => {
      this.#turnStart = this.#now();
    });
  }
}
