import type { SendFlow } from "./flow-control.js";
import { ErrorCode } from "./frames.js";
import type { StreamTable } from "./stream-table.js";

// Stream state (RFC 9113 §5.1): one request stream and what the application does with it, what makes a
// request's header list well-formed (§8.2–8.3), and the memory of recently closed streams.

/** Request headers: lowercase names; a repeated name's values joined with ", " (cookies with "; "). */
export type RequestHeaders = Readonly<Record<string, string>>;

/** Waiting to be sent because a flow-control window is closed. */
export interface Pending {
  data: Buffer[];
  bytes: number;
  end: boolean;
  trailers: Buffer | undefined;
}

/**
 * One request stream. The application sets `onData`, `onEnd` and `onClose` when it gets the stream, and
 * answers with `respond`/`write`/`trailers`, or `answer` for a whole unary response at once.
 */
export class H2Stream {
  /**
   * Request body bytes. `last` marks the chunk that ends the request; a chunk is a view into the socket's
   * buffer, so what is kept past `last` should be copied.
   */
  onData: ((chunk: Buffer, last: boolean) => void) | undefined;
  /** The request is complete (END_STREAM). */
  onEnd: (() => void) | undefined;
  /** The stream is gone: answered in full, reset by either side, or the connection closed. Called once. */
  onClose: (() => void) | undefined;
  /** @internal */ remoteEnded = false;
  /** @internal */ localEnded = false;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow: number;
  /** @internal */ recvUnacked = 0;
  /** @internal */ received = 0;
  /** @internal Request bytes received and not yet given back to the connection window. */
  held = 0;
  /** @internal */ pending: Pending | undefined;
  /** @internal The end of the response is queued behind flow control. */
  endQueued = false;
  /** @internal When the headers arrived, for the request timeout (only for requests with a body to come). */
  openedAt = 0;
  readonly #table: StreamTable;
  readonly #send: SendFlow;
  #closed = false;

  constructor(
    table: StreamTable,
    /** The client's address as `host:port`. */
    readonly peer: string,
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
    /** @internal */ readonly contentLength: number | undefined,
  ) {
    this.#table = table;
    this.#send = table.send;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Nothing more can be sent: the response ended or the stream was reset. */
  get done(): boolean {
    return this.#closed || this.localEnded || this.endQueued;
  }

  /** Sends the response headers; `endStream` makes it the whole (trailers-only) response. */
  respond(block: Buffer, endStream: boolean): void {
    this.#send.headers(this, block, endStream);
  }

  /** Sends body bytes; false when enough is queued behind flow control that the writer should slow down. */
  write(data: Buffer, endStream = false): boolean {
    return this.#send.data(this, data, endStream);
  }

  /** Ends the response with trailers, after any queued body bytes. */
  trailers(block: Buffer): void {
    this.#send.headers(this, block, true);
  }

  /** A complete response: headers, one body chunk and trailers, in one write when the windows allow. */
  answer(headers: Buffer, body: Buffer, trailers: Buffer): void {
    this.#send.answer(this, headers, body, trailers);
  }

  /** RST_STREAM with `code`: the stream ends now, whatever was queued. */
  reset(code: ErrorCode): void {
    if (!this.#closed) this.#table.reset(this, code);
  }

  /**
   * After a complete response, asks the client to stop sending the rest of its request (RST_STREAM
   * NO_ERROR, RFC 9113 §8.1). Does nothing when the request is complete or the response still queued.
   */
  abandonRequest(): void {
    if (!this.#closed && !this.remoteEnded && this.localEnded && !this.pending) {
      this.#table.reset(this, ErrorCode.NO_ERROR);
    }
  }

  /** @internal */
  markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    return true;
  }
}

/**
 * How many closed stream ids are remembered: frames the peer sent before it saw our reset are ignored,
 * and a HEADERS frame on a stream that has closed is told apart from one on an id never used.
 */
const rememberedClosed = 256;

/** Recently closed stream ids, and whether we reset them. */
export class ClosedStreams {
  readonly #closed = new Map<number, boolean>();

  /** true: we reset it; false: it closed otherwise; undefined: not one of the recent ones. */
  wasReset(id: number): boolean | undefined {
    return this.#closed.get(id);
  }

  remember(id: number, reset: boolean): void {
    const closed = this.#closed;
    if (closed.get(id) === true) return;
    closed.set(id, reset);
    if (closed.size > rememberedClosed) {
      const oldest = closed.keys().next().value;
      if (oldest !== undefined) closed.delete(oldest);
    }
  }
}

const connectionSpecificHeaders = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/** What is wrong with a request's header list (RFC 9113 §8.2–8.3), or undefined. */
export function requestProblem(fields: RequestHeaders): string | undefined {
  for (const name in fields) {
    if (name.charCodeAt(0) === 0x3a) {
      if (name !== ":method" && name !== ":scheme" && name !== ":path" && name !== ":authority") {
        return `unknown pseudo-header ${name}`;
      }
    } else if (connectionSpecificHeaders.has(name)) {
      return `connection-specific header ${name}`;
    } else if (name === "te" && fields["te"] !== "trailers") {
      return "te other than trailers";
    }
  }
  if (fields[":method"] === undefined || fields[":scheme"] === undefined || !fields[":path"]) {
    return "a request needs :method, :scheme and :path";
  }
  return undefined;
}

/**
 * The request's declared body length: undefined when it declares none, NaN when the declaration is
 * malformed or contradicts a request without a body (RFC 9113 §8.1.1).
 */
export function declaredLength(fields: RequestHeaders, endStream: boolean): number | undefined {
  const declared = fields["content-length"];
  if (declared === undefined) return undefined;
  const length = /^\d{1,15}$/.test(declared) ? Number(declared) : Number.NaN;
  return endStream && length !== 0 ? Number.NaN : length;
}
