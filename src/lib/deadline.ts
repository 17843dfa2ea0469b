import { systemClock, type Timers } from "./clock.js";

/** A call that did not answer within its deadline. Its outcome is unknown: the work may still happen. */
export class DeadlineError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no answer within ${timeoutMs} ms`);
    this.name = "DeadlineError";
  }
}

/**
 * Settles like `promise`, or rejects with DeadlineError after `timeoutMs` on `timers`, whichever
 * comes first. The work itself is not cancelled; the caller just stops waiting for it.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
  timers: Timers = systemClock,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.setTimeout(() => reject(new DeadlineError(what, timeoutMs)), timeoutMs);
    timer.unref();
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (err: unknown) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}
