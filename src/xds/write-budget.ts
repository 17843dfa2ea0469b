// The server-wide budget of response bytes encoded but not yet written to their clients, across every
// xDS stream. Envoy's overload manager is the model: one resource watched across the server, and an
// action that pushes back instead of growing. A stream encodes its next responses only while the
// budget has room; otherwise it waits in line and, when bytes drain, is resumed in turn and encodes
// from the snapshot of that moment (so waiting coalesces changes instead of queueing them). A client
// that stops reading holds its bytes: once others wait behind it and it has written nothing for the
// stall bound, it is let go (its connection closed), which gives its bytes back.
import type { Timer, Timers } from "../lib/clock.js";

/** A stream that writes under the budget. */
export interface BudgetedWriter {
  /** There is room again: encode and write what is due now. */
  resume(): void;
  /** It held bytes unwritten past the stall bound while others waited: end it to free them. */
  stalled(): void;
}

export interface WriteBudgetOptions {
  /** Bytes encoded and not yet written, across all writers, before writers wait. Infinity: no budget. */
  readonly maxBytes: number;
  /** A writer whose bytes made no progress this long while others wait is let go. */
  readonly stallMs: number;
  readonly clock: Timers;
  /** A writer had to wait for room (for metrics). */
  readonly onWait?: () => void;
  /** A stalled writer was let go (for metrics). */
  readonly onStalled?: () => void;
}

interface Holding {
  bytes: number;
  /** Clock ms of its last progress: its first byte held since it held none, or its last write done. */
  since: number;
}

export class WriteBudget {
  readonly maxBytes: number;
  readonly stallMs: number;
  readonly #options: WriteBudgetOptions;
  readonly #held = new Map<BudgetedWriter, Holding>();
  /** In arrival order: resumed first in, first out. */
  readonly #waiting = new Set<BudgetedWriter>();
  #used = 0;
  #stallCheck: Timer | undefined;
  #waking = false;

  constructor(options: WriteBudgetOptions) {
    this.maxBytes = options.maxBytes;
    this.stallMs = options.stallMs;
    this.#options = options;
  }

  /** Bytes encoded and not yet written now. */
  get bufferedBytes(): number {
    return this.#used;
  }

  /** Writers waiting for room now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * True when `writer` may encode and write now. Otherwise it is put in line (once) and resumed
   * when its turn comes. One pass may overshoot the budget by what it writes: a response is never
   * split, and a writer with room always makes progress.
   */
  admit(writer: BudgetedWriter): boolean {
    if (this.#used < this.maxBytes && (this.#waiting.size === 0 || this.#waking)) return true;
    if (!this.#waiting.has(writer)) {
      this.#waiting.add(writer);
      this.#options.onWait?.();
      this.#watchStalls();
    }
    return false;
  }

  /** `bytes` were encoded by `writer` and handed to its transport. */
  hold(writer: BudgetedWriter, bytes: number): void {
    this.#used += bytes;
    const holding = this.#held.get(writer);
    if (holding) holding.bytes += bytes;
    else this.#held.set(writer, { bytes, since: this.#options.clock.now() });
  }

  /** `bytes` of `writer` were written out. */
  written(writer: BudgetedWriter, bytes: number): void {
    const holding = this.#held.get(writer);
    if (!holding) return;
    const given = Math.min(bytes, holding.bytes);
    holding.bytes -= given;
    holding.since = this.#options.clock.now();
    this.#used -= given;
    if (holding.bytes === 0) this.#held.delete(writer);
    this.#wake();
  }

  /** `writer` is gone: whatever it held is given back, and it leaves the line. */
  forget(writer: BudgetedWriter): void {
    this.#waiting.delete(writer);
    const holding = this.#held.get(writer);
    if (holding) {
      this.#used -= holding.bytes;
      this.#held.delete(writer);
    }
    this.#wake();
  }

  /** Resumes waiters in turn while there is room; each one's pass counts before the next is asked. */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    try {
      while (this.#used < this.maxBytes) {
        const next = this.#waiting.values().next();
        if (next.done) break;
        this.#waiting.delete(next.value);
        next.value.resume();
      }
    } finally {
      this.#waking = false;
    }
    if (this.#waiting.size === 0) this.#stopWatching();
  }

  #watchStalls(): void {
    if (this.#stallCheck || !Number.isFinite(this.stallMs)) return;
    const every = Math.max(1, Math.floor(this.stallMs / 4));
    this.#stallCheck = this.#options.clock.setInterval(() => this.#releaseStalled(), every).unref();
  }

  #stopWatching(): void {
    this.#stallCheck?.cancel();
    this.#stallCheck = undefined;
  }

  /** While writers wait, the ones stuck longest with the most bytes go first, until there is room. */
  #releaseStalled(): void {
    if (this.#waiting.size === 0) {
      this.#stopWatching();
      return;
    }
    const now = this.#options.clock.now();
    const stuck = [...this.#held]
      .filter(([, holding]) => now - holding.since >= this.stallMs)
      .sort(([, a], [, b]) => b.bytes - a.bytes);
    for (const [writer] of stuck) {
      if (this.#used < this.maxBytes) break;
      this.#options.onStalled?.();
      this.forget(writer);
      writer.stalled();
    }
  }
}
