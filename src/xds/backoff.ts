export interface Backoff {
  /** The first retry waits up to this long. */
  readonly initialMs: number;
  /** No retry waits longer than this. */
  readonly maxMs: number;
}

export const defaultBackoff: Backoff = { initialMs: 500, maxMs: 30_000 };

/**
 * How long to wait before retry number `attempt` (0 for the first): exponential growth capped at
 * `maxMs`, with full jitter so that many clients cut off together do not return together.
 * `random` gives a number in [0, 1).
 */
export function retryDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
