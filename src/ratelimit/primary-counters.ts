import type { IpcChannel } from "../lib/index.js";
import type { CounterGroup, CounterStore, HitOutcome } from "./algorithms.js";

/**
 * In-memory counters with `--workers N`: one store, in the primary, that every worker's coalesced
 * batches go to. The primary applies one batch at a time on its one thread, so counts stay exact
 * whichever worker a call lands on (the same outcomes as one process); a worker adds one IPC round
 * trip per batch, not per call.
 */
const applyType = "counters.apply";

interface ApplyRequest {
  readonly groups: readonly CounterGroup[];
  readonly nowMs: number;
}

/** The worker's side: a CounterStore whose counters are in the primary. */
export class PrimaryCounterStore implements CounterStore {
  readonly #channel: IpcChannel;
  readonly #timeoutMs: number;

  /** `timeoutMs` only cleans up after a primary gone silent; the coalescer's own timeout answers the calls first. */
  constructor(channel: IpcChannel, timeoutMs = 10_000) {
    this.#channel = channel;
    this.#timeoutMs = timeoutMs;
  }

  apply(groups: readonly CounterGroup[], nowMs: number): Promise<HitOutcome[][]> {
    return this.#channel.request<HitOutcome[][]>(applyType, { groups, nowMs } satisfies ApplyRequest, this.#timeoutMs);
  }

  async close(): Promise<void> {}
}

/** The primary's side: answers a worker's batches from `store`. */
export function serveCounters(channel: IpcChannel, store: CounterStore): void {
  channel.handle(applyType, (body) => {
    const { groups, nowMs } = body as ApplyRequest;
    return store.apply(groups, nowMs);
  });
}
