import type { Clock } from "../lib/index.js";
import type { CounterGroup, CounterStore, HitOutcome } from "./algorithms.js";

/** The backend did not answer in time, or failed. */
export class CounterStoreError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "CounterStoreError";
  }
}

interface PendingGroup {
  readonly group: Omit<CounterGroup, "hits"> & { hits: number[] };
  readonly waiters: Array<{ resolve(outcome: HitOutcome): void; reject(err: unknown): void }>;
}

export interface HitRequest {
  readonly counterKey: string;
  readonly algorithm: CounterGroup["algorithm"];
  readonly limit: number;
  readonly windowSeconds: number;
  readonly hits: number;
}

/**
 * Collects the hits of one event-loop turn and sends them to the store as one batch: hits on the
 * same counter become one group (one Redis call), whose outcomes are handed back in arrival order,
 * exactly as if the hits had been sent one by one. Every batch is bounded by `timeoutMs`.
 */
export class HitCoalescer {
  readonly #store: CounterStore;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onError: (err: unknown) => void;
  #pending = new Map<string, PendingGroup>();
  #scheduled = false;

  constructor(options: { store: CounterStore; clock: Clock; timeoutMs: number; onError?: (err: unknown) => void }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#onError = options.onError ?? (() => {});
  }

  hit(request: HitRequest): Promise<HitOutcome> {
    const id = `${request.algorithm}|${request.windowSeconds}|${request.limit}|${request.counterKey}`;
    let pending = this.#pending.get(id);
    if (!pending) {
      pending = {
        group: {
          counterKey: request.counterKey,
          algorithm: request.algorithm,
          limit: request.limit,
          windowSeconds: request.windowSeconds,
          hits: [],
        },
        waiters: [],
      };
      this.#pending.set(id, pending);
    }
    pending.group.hits.push(request.hits);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    const waiters = pending.waiters;
    return new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    this.#scheduled = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CounterStoreError(`counter store did not answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    const work = this.#store.apply(
      batch.map((p) => p.group),
      this.#clock.now(),
    );
    // A late failure after the timeout has already answered must not surface as unhandled.
    work.catch(() => {});
    Promise.race([work, timeout]).then(
      (results) => {
        clearTimeout(timer);
        batch.forEach((pending, i) => {
          const outcomes = results[i] ?? [];
          pending.waiters.forEach((waiter, j) => {
            const outcome = outcomes[j];
            if (outcome) waiter.resolve(outcome);
            else waiter.reject(new CounterStoreError("counter store returned too few outcomes"));
          });
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.#onError(err);
        const failure =
          err instanceof CounterStoreError ? err : new CounterStoreError("counter store failed", { cause: err });
        for (const pending of batch) for (const waiter of pending.waiters) waiter.reject(failure);
      },
    );
  }
}
