import type { Timers } from "./clock.js";

/**
 * `AbortSignal.timeout` on an injected clock: aborts `ms` from now with the same reason (a
 * DOMException named TimeoutError). Like it, the timer is not cleared when the work ends early, so
 * the signal also bounds reading a response body; it does not keep the process alive.
 */
export function timeoutSignal(clock: Timers, ms: number): AbortSignal {
  const controller = new AbortController();
  clock
    .setTimeout(
      () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
      ms,
    )
    .unref();
  return controller.signal;
}
