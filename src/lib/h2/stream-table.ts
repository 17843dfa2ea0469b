import { type ReceiveFlow, type ResponseEnds, SendFlow } from "./flow-control.js";
import { ConnectionError, ErrorCode, rstStreamFrame } from "./frames.js";
import type { Output } from "./output.js";
import type { ServerLimits } from "./server-limits.js";
import type { PeerSettings } from "./settings.js";
import { ClosedStreams, H2Stream } from "./streams.js";

/** How many more calls a connection may have cut short than it lets the server answer (see `close`). */
const maxCancelBudget = 1_000;

/** What the stream table needs from its connection. */
export interface StreamOwner {
  readonly peer: string;
  /** The connection has ended: streams closing now were not cut short by the peer. */
  readonly ended: boolean;
  /** A GOAWAY went either way: the connection ends once its last stream closes. */
  readonly goingAway: boolean;
  endIfIdle(): void;
  fail(err: ConnectionError): void;
}

/**
 * The streams of one connection and their states (RFC 9113 §5.1): open streams by id, the highest id
 * used, recently closed ids, requests whose body is still coming, and how many calls the peer may still
 * cut short before its connection is ended ("rapid reset").
 */
export class StreamTable implements ResponseEnds {
  readonly send: SendFlow;
  readonly #streams = new Map<number, H2Stream>();
  readonly #closed = new ClosedStreams();
  /** Streams whose request body is still coming, oldest first. */
  readonly #incomplete = new Set<H2Stream>();
  readonly #out: Output;
  readonly #receive: ReceiveFlow;
  readonly #owner: StreamOwner;
  readonly #shared: ServerLimits;
  #lastId = 0;
  #cancelBudget = maxCancelBudget;

  /** `shared`: the server-wide bounds; every stream opened here was admitted by them. */
  constructor(out: Output, receive: ReceiveFlow, peerSettings: PeerSettings, owner: StreamOwner, shared: ServerLimits) {
    this.#out = out;
    this.#shared = shared;
    this.#receive = receive;
    this.#owner = owner;
    this.send = new SendFlow(out, peerSettings, this);
  }

  get size(): number {
    return this.#streams.size;
  }

  /** The highest stream id the peer has used. */
  get lastId(): number {
    return this.#lastId;
  }

  get(id: number): H2Stream | undefined {
    return this.#streams.get(id);
  }

  values(): IterableIterator<H2Stream> {
    return this.#streams.values();
  }

  /** For a closed stream: true when we reset it, false when it closed otherwise; undefined when not recent. */
  wasReset(id: number): boolean | undefined {
    return this.#closed.wasReset(id);
  }

  /** The peer used a new stream id, whether its stream opens or is refused. */
  claim(id: number): void {
    this.#lastId = id;
  }

  /**
   * Opens a request stream. `endStream`: the request has no body. `openedAt`: when its headers came, for
   * the request timeout (undefined when there is none).
   */
  open(
    id: number,
    sendWindow: number,
    recvWindow: number,
    contentLength: number | undefined,
    endStream: boolean,
    openedAt: number | undefined,
  ): H2Stream {
    const stream = new H2Stream(this, this.#owner.peer, id, sendWindow, recvWindow, contentLength);
    this.#streams.set(id, stream);
    // A request without a body is complete before the application sees it.
    stream.remoteEnded = endStream;
    if (!endStream && openedAt !== undefined) {
      stream.openedAt = openedAt;
      this.#incomplete.add(stream);
    }
    return stream;
  }

  /** The request is complete (END_STREAM on its last DATA or its trailers). */
  endOfRequest(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.contentLength !== undefined && stream.received !== stream.contentLength) {
      this.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.remoteEnded = true;
    this.#release(stream);
    stream.onEnd?.();
    this.closeIfDone(stream);
  }

  /** Resets requests whose body has not ended since `openedBy` (slow or stalled uploads). */
  resetIncomplete(openedBy: number): void {
    for (const stream of this.#incomplete) {
      if (stream.openedAt > openedBy) break;
      this.reset(stream, ErrorCode.CANCEL);
    }
  }

  get hasIncomplete(): boolean {
    return this.#incomplete.size > 0;
  }

  /** The response has left in full. */
  responseEnded(stream: H2Stream): void {
    stream.localEnded = true;
    this.closeIfDone(stream);
  }

  /** A whole answer left in one write: the connection may cut one more call short. */
  answered(stream: H2Stream): void {
    if (this.#cancelBudget < maxCancelBudget) this.#cancelBudget += 1;
    this.responseEnded(stream);
  }

  /** RST_STREAM `code` on an open stream, which closes. */
  reset(stream: H2Stream, code: ErrorCode): void {
    this.resetId(stream.id, code);
    this.close(stream);
  }

  /** RST_STREAM `code` on a stream id, open or not. */
  resetId(id: number, code: ErrorCode): void {
    this.#out.push(rstStreamFrame(id, code));
    this.#closed.remember(id, true);
  }

  close(stream: H2Stream): void {
    if (!stream.markClosed()) return;
    this.#streams.delete(stream.id);
    this.#shared.releaseStream();
    this.#closed.remember(stream.id, false);
    this.#release(stream);
    const owner = this.#owner;
    if (!stream.localEnded && !stream.endQueued && !owner.ended) {
      // A call cut short before its answer (reset by the client, or by us over something the client sent)
      // may have started work for nothing: the "rapid reset" attacks. A connection may cut short only so
      // many more calls than it lets the server answer.
      this.#cancelBudget -= 1;
      if (this.#cancelBudget < 0) {
        owner.fail(new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many calls cut short"));
      }
    }
    this.send.drop(stream);
    stream.onClose?.();
    if (owner.goingAway) owner.endIfIdle();
  }

  closeAll(): void {
    for (const stream of [...this.#streams.values()]) this.close(stream);
  }

  /** Closes the stream once both its request and its response have ended. */
  closeIfDone(stream: H2Stream): void {
    if (stream.localEnded && stream.remoteEnded) this.close(stream);
  }

  /** The stream's request bytes are done with: the connection window gets them back. */
  #release(stream: H2Stream): void {
    this.#receive.giveBack(stream.held);
    this.#shared.release(stream.held);
    stream.held = 0;
    this.#incomplete.delete(stream);
  }
}
