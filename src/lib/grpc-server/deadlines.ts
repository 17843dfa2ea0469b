import type { Timer, Timers } from "../clock.js";
import { GrpcStatus } from "../grpc.js";

// Deadlines: the caller's `grpc-timeout`, and the calls waiting for their handler, checked against their
// deadlines by one sweep (not a timer per call) while any of them has one.

/** How often waiting calls are checked against their deadlines. Callers enforce their own deadline exactly. */
const sweepEveryMs = 10;

/** `grpc-timeout` is 1–8 digits and a unit (H, M, S, m, u, n); returns milliseconds, or undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]);
  switch (match[2]) {
    case "H":
      return amount * 3_600_000;
    case "M":
      return amount * 60_000;
    case "S":
      return amount * 1_000;
    case "m":
      return amount;
    case "u":
      return amount / 1_000;
    default:
      return amount / 1_000_000;
  }
}

/** A call as the sweep sees it. */
export interface WaitingCall {
  /** In the server clock's milliseconds; undefined when unbounded. */
  readonly deadline: number | undefined;
  fail(code: GrpcStatus, message: string): void;
}

/**
 * The calls waiting for their handler: the only ones a deadline, a cancel or shutdown can still affect.
 * A call answered at once never comes here.
 */
export class WaitingCalls<C extends WaitingCall> {
  readonly #calls = new Set<C>();
  readonly #timers: Timers;
  #sweep: Timer | undefined;
  /** Takes an answered call out; given to each call, made once. */
  readonly release = (call: C): void => {
    this.#calls.delete(call);
    if (this.#calls.size === 0 && this.#sweep) {
      this.#sweep.cancel();
      this.#sweep = undefined;
    }
  };

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  add(call: C): void {
    this.#calls.add(call);
    if (call.deadline !== undefined && !this.#sweep) {
      this.#sweep = this.#timers.setInterval(() => this.#sweepDeadlines(), sweepEveryMs).unref();
    }
  }

  /** The waiting calls now (a copy: answering one takes it out). */
  list(): C[] {
    return [...this.#calls];
  }

  #sweepDeadlines(): void {
    const now = this.#timers.now();
    for (const call of this.list()) {
      if (call.deadline !== undefined && call.deadline <= now)
        call.fail(GrpcStatus.DEADLINE_EXCEEDED, "deadline exceeded");
    }
  }
}
