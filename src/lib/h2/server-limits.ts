// Bounds shared by every connection of one server. Each connection already bounds itself (its streams,
// its 16 MiB receive window); these bound the sum, so that many connections cannot take all memory.
// Envoy's overload manager is the model: a resource watched server-wide, and an action that pushes back
// instead of growing when it is spent. Here: a connection over the connection cap is told to go away,
// a stream over the total is refused (REFUSED_STREAM, safe to retry), and while the request bytes held
// are over the budget connections stop reading their sockets and withhold WINDOW_UPDATEs.

/** The bound that pushed back, for metrics. */
export type ServerBound = "connections" | "streams" | "buffered_bytes";

export interface ServerLimitsOptions {
  /** Open connections, at most; a newer one gets GOAWAY and is closed. Default 10,000. */
  maxConnections?: number;
  /** Streams open across all connections, at most; a newer one gets REFUSED_STREAM. Default 10,000. */
  maxStreams?: number;
  /** Request bytes held across all connections before reading pauses. Default 256 MiB. */
  maxBufferedBytes?: number;
  /** Called each time a bound pushes back. */
  onLimit?: (bound: ServerBound) => void;
}

export const defaultServerLimits = {
  maxConnections: 10_000,
  maxStreams: 10_000,
  maxBufferedBytes: 256 * 1024 * 1024,
} as const;

/** A connection that stopped reading until the byte budget has room again. */
export interface BudgetWaiter {
  resumeReading(): void;
}

/** Counts connections, streams and request bytes held across one server's connections. */
export class ServerLimits {
  readonly maxConnections: number;
  readonly maxStreams: number;
  readonly maxBufferedBytes: number;
  readonly #onLimit: ((bound: ServerBound) => void) | undefined;
  readonly #waiting = new Set<BudgetWaiter>();
  #connections = 0;
  #streams = 0;
  #buffered = 0;

  constructor(options: ServerLimitsOptions = {}) {
    this.maxConnections = options.maxConnections ?? defaultServerLimits.maxConnections;
    this.maxStreams = options.maxStreams ?? defaultServerLimits.maxStreams;
    this.maxBufferedBytes = options.maxBufferedBytes ?? defaultServerLimits.maxBufferedBytes;
    this.#onLimit = options.onLimit;
  }

  /** No bound: for a connection that is not part of a server. */
  static unbounded(): ServerLimits {
    return new ServerLimits({ maxConnections: Infinity, maxStreams: Infinity, maxBufferedBytes: Infinity });
  }

  get connections(): number {
    return this.#connections;
  }

  get streams(): number {
    return this.#streams;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Counts a new connection; false (and counted as pushed back) when the cap is reached. */
  admitConnection(): boolean {
    if (this.#connections >= this.maxConnections) {
      this.#onLimit?.("connections");
      return false;
    }
    this.#connections += 1;
    return true;
  }

  releaseConnection(): void {
    this.#connections -= 1;
  }

  /** Counts a new stream; false (and counted as pushed back) when the total is reached. */
  admitStream(): boolean {
    if (this.#streams >= this.maxStreams) {
      this.#onLimit?.("streams");
      return false;
    }
    this.#streams += 1;
    return true;
  }

  releaseStream(): void {
    this.#streams -= 1;
  }

  /** `bytes` of request data are held until their request completes or ends. */
  hold(bytes: number): void {
    this.#buffered += bytes;
  }

  /** Held bytes given back; waiting connections read again once the budget has room. */
  release(bytes: number): void {
    this.#buffered -= bytes;
    if (this.#waiting.size === 0 || this.overBudget) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const waiter of waiting) waiter.resumeReading();
  }

  /** The bytes held have reached the budget: connections should stop reading. */
  get overBudget(): boolean {
    return this.#buffered >= this.maxBufferedBytes;
  }

  /** `waiter` stopped reading; it is told when to read again. */
  wait(waiter: BudgetWaiter): void {
    if (this.#waiting.has(waiter)) return;
    this.#waiting.add(waiter);
    this.#onLimit?.("buffered_bytes");
  }

  /** Counts one push-back by a bound kept outside this class (the xDS server's response byte budget). */
  pushedBack(bound: ServerBound): void {
    this.#onLimit?.(bound);
  }

  /** `waiter` is gone (its connection closed). */
  forget(waiter: BudgetWaiter): void {
    this.#waiting.delete(waiter);
  }
}
