import type { Timer, Timers } from "../lib/index.js";
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

/** The hits collected for one store call, and the one timer that bounds how long their callers wait. */
interface Batch {
  readonly groups: Map<string, PendingGroup>;
  timer: Timer | undefined;
  settled: boolean;
  sent: boolean;
}

export interface HitRequest {
  readonly counterKey: string;
  readonly keyFormat: CounterGroup["keyFormat"];
  readonly algorithm: CounterGroup["algorithm"];
  readonly limit: number;
  readonly windowSeconds: number;
  readonly hits: number;
}

export interface HitCoalescerOptions {
  readonly store: CounterStore;
  /** Stamps each batch's hits and runs the timeout. */
  readonly clock: Timers;
  /** A hit is answered (or failed) within this long of its arrival, however long it waited to be sent. */
  readonly timeoutMs: number;
  /**
   * How many store calls may be out at once. While they are, new hits gather into the next batch,
   * so batches grow with load (fewer, larger Redis pipelines and writes) and stay single at low load.
   */
  readonly maxBatchesInFlight?: number;
  readonly onError?: (err: unknown) => void;
}

/**
 * Collects hits and sends them to the store in batches: hits on the same counter become one group
 * (one Redis call), whose outcomes are handed back in arrival order, exactly as if the hits had been
 * sent one by one. A batch goes out at the end of the event-loop turn, or, when `maxBatchesInFlight`
 * calls are already out, as soon as one of them comes back.
 */
export class HitCoalescer {
  readonly #store: CounterStore;
  readonly #clock: Timers;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #onError: (err: unknown) => void;
  #next: Batch | undefined;
  #inFlight = 0;
  #scheduled = false;

  constructor(options: HitCoalescerOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#maxInFlight = Math.max(1, options.maxBatchesInFlight ?? 2);
    this.#onError = options.onError ?? (() => {});
  }

  hit(request: HitRequest): Promise<HitOutcome> {
    const batch = this.#next ?? this.#open();
    const id = `${request.keyFormat}|${request.algorithm}|${request.windowSeconds}|${request.limit}|${request.counterKey}`;
    let pending = batch.groups.get(id);
    if (!pending) {
      pending = {
        group: {
          counterKey: request.counterKey,
          keyFormat: request.keyFormat,
          algorithm: request.algorithm,
          limit: request.limit,
          windowSeconds: request.windowSeconds,
          hits: [],
        },
        waiters: [],
      };
      batch.groups.set(id, pending);
    }
    pending.group.hits.push(request.hits);
    if (!this.#scheduled && this.#inFlight < this.#maxInFlight) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#send();
      });
    }
    const waiters = pending.waiters;
    return new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
    });
  }

  #open(): Batch {
    const batch: Batch = { groups: new Map(), timer: undefined, settled: false, sent: false };
    batch.timer = this.#clock.setTimeout(
      () => this.#fail(batch, new CounterStoreError(`counter store did not answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    this.#next = batch;
    return batch;
  }

  #send(): void {
    const batch = this.#next;
    if (!batch || this.#inFlight >= this.#maxInFlight) return;
    this.#next = undefined;
    batch.sent = true;
    this.#inFlight++;
    const pending = [...batch.groups.values()];
    let work: Promise<Array<HitOutcome[] | Error>>;
    try {
      work = this.#store.apply(
        pending.map((p) => p.group),
        this.#clock.now(),
      );
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (results) => {
        if (batch.settled) return;
        this.#settle(batch);
        let failure: CounterStoreError | undefined;
        pending.forEach((group, i) => {
          const outcomes = results[i] ?? [];
          if (outcomes instanceof Error) {
            failure ??= new CounterStoreError("counter store failed", { cause: outcomes });
            for (const waiter of group.waiters) waiter.reject(failure);
            return;
          }
          group.waiters.forEach((waiter, j) => {
            const outcome = outcomes[j];
            if (outcome) waiter.resolve(outcome);
            else waiter.reject(new CounterStoreError("counter store returned too few outcomes"));
          });
        });
        // Counted once per batch, as a failed batch is.
        if (failure) this.#onError(failure.cause);
      },
      (err: unknown) => this.#fail(batch, err),
    );
  }

  /** Marks a batch answered: stops its timer, frees its slot and sends whatever gathered meanwhile. */
  #settle(batch: Batch): void {
    batch.settled = true;
    batch.timer?.cancel();
    if (batch.sent) {
      this.#inFlight--;
      this.#send();
    } else if (this.#next === batch) {
      this.#next = undefined;
    }
  }

  #fail(batch: Batch, err: unknown): void {
    if (batch.settled) return;
    this.#settle(batch);
    this.#onError(err);
    const failure =
      err instanceof CounterStoreError ? err : new CounterStoreError("counter store failed", { cause: err });
    for (const pending of batch.groups.values()) for (const waiter of pending.waiters) waiter.reject(failure);
  }
}
