// One HTTP/2 server connection: turns frames into request streams, answers the control frames and
// ends the connection; each other job is its own file in this folder. Slightly over 400 lines on
// purpose: the frame dispatch is one switch, and splitting it would add a hop per frame on the hot path.
import type { Socket } from "node:net";
import { systemClock, type Timer, type Timers } from "../clock.js";
import { ReceiveFlow } from "./flow-control.js";
import { FrameReader, type FrameSink } from "./frame-reader.js";
import { ConnectionError, ErrorCode, Flag, FrameType, frame, goawayFrame, rstStreamFrame, unpad } from "./frames.js";
import { HeaderBlocks } from "./header-blocks.js";
import { Keepalive } from "./keepalive.js";
import { Output } from "./output.js";
import { RequestTimeouts, type SweptConnection } from "./request-timeouts.js";
import { type BudgetWaiter, ServerLimits } from "./server-limits.js";
import {
  type ConnectionLimits,
  connectionLimits,
  type H2ConnectionOptions,
  PeerSettings,
  serverPreface,
} from "./settings.js";
import { type StreamOwner, StreamTable } from "./stream-table.js";
import { declaredLength, type H2Stream, type RequestHeaders, requestProblem } from "./streams.js";

// The server side of one HTTP/2 connection (RFC 9113), written for gRPC's request/response pattern: it
// parses frames straight off the socket and turns them into request streams for the application; the
// jobs it ties together live beside it (frame reader, frames, settings, flow control, stream table,
// header blocks, output, keepalive, request timeouts).
// node:http2 spends more per call in its C++/JS crossings and per-stream objects than the data-plane
// services spend deciding the answer (measured in bench/ratelimit); this keeps a call to a few small
// objects and one write.

export type StreamListener = (stream: H2Stream, headers: RequestHeaders) => void;

/** How long a connection that has ended its side waits for the peer to close before dropping the socket. */
const closeGraceMs = 1_000;
/** HTTP 431, for a request whose headers are over the limit. */
const headersTooLarge = Buffer.from([0x08, 0x03, 0x34, 0x33, 0x31]);

/** The server side of one connection; it owns the socket. */
export class H2Connection implements FrameSink, StreamOwner, SweptConnection, BudgetWaiter {
  readonly peer: string;
  /** Called once when the socket is gone. */
  onClose: (() => void) | undefined;
  /** Called with the reason when the connection ends on a protocol error (for logs). */
  onProtocolError: ((message: string) => void) | undefined;

  readonly #socket: Socket;
  readonly #onStream: StreamListener;
  readonly #limits: ConnectionLimits;
  readonly #timers: Timers;
  readonly #reader = new FrameReader();
  readonly #out: Output;
  readonly #peerSettings = new PeerSettings();
  readonly #receive: ReceiveFlow;
  readonly #streams: StreamTable;
  readonly #headerBlocks: HeaderBlocks;
  readonly #requestTimeouts: RequestTimeouts | undefined;
  readonly #keepalive: Keepalive | undefined;
  readonly #shared: ServerLimits;
  /** Counted among the server's connections (false: refused over the cap). */
  readonly #admitted: boolean;
  /** Drops the socket if the peer does not close its side after ours ended. */
  #dropTimer: Timer | undefined;
  #settingsSeen = false;
  #goawaySent = false;
  #peerGoaway = false;
  #ended = false;

  constructor(socket: Socket, onStream: StreamListener, options: H2ConnectionOptions = {}) {
    this.#socket = socket;
    this.#onStream = onStream;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const limits = connectionLimits(options);
    this.#limits = limits;
    this.#timers = options.timers ?? systemClock;
    this.#out = new Output(socket);
    this.#receive = new ReceiveFlow(limits.connectionWindow, limits.streamWindow);
    this.#shared = options.serverLimits ?? ServerLimits.unbounded();
    this.#streams = new StreamTable(this.#out, this.#receive, this.#peerSettings, this, this.#shared);
    this.#headerBlocks = new HeaderBlocks(limits.maxHeaderListSize);

    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onSocketData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.#onSocketClose());
    for (const bytes of serverPreface(limits)) this.#out.push(bytes);
    this.#admitted = this.#shared.admitConnection();
    if (!this.#admitted) {
      // Over the server's connection cap: this newest connection, idle by definition, is told to go
      // away before it can cost anything; a client reconnects (elsewhere, or later).
      this.#goawaySent = true;
      this.#out.push(goawayFrame(0, ErrorCode.NO_ERROR, "connection limit reached"));
      this.endIfIdle();
      return;
    }

    if (limits.keepaliveTimeMs > 0) {
      const ping = () => {
        if (this.#ended) return false;
        this.#out.push(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
        return true;
      };
      const drop = () => socket.destroy();
      this.#keepalive = new Keepalive(this.#timers, limits.keepaliveTimeMs, limits.keepaliveTimeoutMs, ping, drop);
    }
    this.#requestTimeouts =
      options.requestTimeouts ??
      (limits.requestTimeoutMs > 0 ? new RequestTimeouts(this.#timers, limits.requestTimeoutMs) : undefined);
    this.#requestTimeouts?.watch(this);
  }

  /** The connection has ended (or is ending): no more frames are read. */
  get ended(): boolean {
    return this.#ended;
  }

  /** @internal A GOAWAY went either way. */
  get goingAway(): boolean {
    return this.#goawaySent || this.#peerGoaway;
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /** Graceful close: GOAWAY, refuse new streams, end the connection once open streams finish. */
  close(): void {
    if (this.#ended) return;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.#out.push(goawayFrame(this.#streams.lastId, ErrorCode.NO_ERROR));
    }
    this.endIfIdle();
  }

  /** Drops the connection now. */
  destroy(): void {
    this.#socket.destroy();
  }

  // ---- receiving ----

  #onSocketData(chunk: Buffer): void {
    if (this.#ended) return;
    this.#out.holding = true;
    try {
      this.#reader.read(chunk, this);
      this.#giveBackConnectionWindow();
    } catch (err) {
      this.fail(err);
    } finally {
      this.#out.holding = false;
    }
    this.#out.flush();
    if (this.#shared.overBudget && !this.#ended) {
      // The server holds as many request bytes as it may: read no more until some are given back.
      this.#out.pauseReading("budget");
      this.#shared.wait(this);
    }
  }

  /** @internal The server's byte budget has room again: read, and send the window updates withheld. */
  resumeReading(): void {
    if (this.#ended) return;
    for (const stream of this.#streams.values()) {
      const update = this.#receive.streamUpdate(stream);
      if (update) this.#out.push(update);
    }
    this.#out.resumeReading("budget");
  }

  /** @internal One frame off the socket. */
  onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#headerBlocks.open && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted by another frame");
    }
    if (!this.#settingsSeen && (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "the connection must start with SETTINGS");
    }
    switch (type) {
      case FrameType.DATA:
        this.#onData(flags, id, payload);
        return;
      case FrameType.HEADERS:
        this.#onHeaders(flags, id, payload);
        return;
      case FrameType.PRIORITY:
        this.#onPriority(id, payload);
        return;
      case FrameType.RST_STREAM:
        this.#onRstStream(id, payload);
        return;
      case FrameType.SETTINGS:
        this.#onSettings(flags, id, payload);
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a client cannot push");
      case FrameType.PING:
        this.#onPing(flags, id, payload);
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
        this.#peerGoaway = true;
        this.endIfIdle();
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(id, payload);
        return;
      case FrameType.CONTINUATION: {
        const ended = this.#headerBlocks.continue(id, flags, payload);
        if (ended) {
          const { block, bytes } = ended;
          this.#onHeaderBlock(block.id, block.flags, bytes, block.selfDependent, block.discard);
        }
        return;
      }
      default:
      // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  #onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    // Flow control counts the whole frame, padding included, whatever happens to the stream.
    const receive = this.#receive;
    receive.take(payload.length);
    const data = unpad(flags, payload, 0);
    // Padding (and frames for streams that are gone) is given back at once; request bytes only when
    // their request completes, so the connection window bounds what a client can make the server hold.
    receive.giveBack(payload.length - data.length);
    const stream = this.#streams.get(id);
    if (!stream) {
      receive.giveBack(data.length);
      if (id > this.#streams.lastId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      if (this.#streams.wasReset(id) !== true) this.#out.push(rstStreamFrame(id, ErrorCode.STREAM_CLOSED));
      return;
    }
    if (stream.remoteEnded || !receive.takeStream(stream, payload.length)) {
      receive.giveBack(data.length);
      this.#streams.reset(stream, stream.remoteEnded ? ErrorCode.STREAM_CLOSED : ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    stream.received += data.length;
    stream.held += data.length;
    this.#shared.hold(data.length);
    if (stream.contentLength !== undefined && stream.received > stream.contentLength) {
      this.#streams.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const last = (flags & Flag.END_STREAM) !== 0;
    if (data.length > 0) stream.onData?.(data, last);
    if (stream.closed) return;
    if (last) {
      this.#streams.endOfRequest(stream);
    } else if (!this.#shared.overBudget) {
      // Over the budget the stream's window stays shut; resumeReading() opens it.
      const update = receive.streamUpdate(stream);
      if (update) this.#out.push(update);
    }
  }

  /** @internal Resets requests whose body has not ended since `openedBy` (slow or stalled uploads). */
  resetIncomplete(openedBy: number): void {
    if (!this.#streams.hasIncomplete) return;
    try {
      this.#streams.resetIncomplete(openedBy);
      this.#giveBackConnectionWindow();
    } catch (err) {
      this.fail(err);
    }
  }

  #giveBackConnectionWindow(): void {
    const update = this.#receive.connectionUpdate();
    if (update) this.#out.push(update);
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a client stream id must be odd");
    const priority = (flags & Flag.PRIORITY) !== 0;
    const fragment = unpad(flags, payload, priority ? 5 : 0);
    let selfDependent = false;
    if (priority) {
      const at = (flags & Flag.PADDED) !== 0 ? 1 : 0;
      selfDependent = (payload.readUInt32BE(at) & 0x7fffffff) === id;
    }
    let discard = false;
    if (id <= this.#streams.lastId && !this.#streams.get(id)) {
      const reset = this.#streams.wasReset(id);
      // Trailers that crossed our RST_STREAM are ignored (RFC 9113 §5.1), once HPACK has seen them.
      if (reset === true) discard = true;
      else if (reset === false) throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      else throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `stream ${id} is below a stream id already used`);
    }
    if ((flags & Flag.END_HEADERS) !== 0) this.#onHeaderBlock(id, flags, fragment, selfDependent, discard);
    else this.#headerBlocks.start(id, flags, fragment, selfDependent, discard);
  }

  /** A whole header block: a new request, or trailers ending one. */
  #onHeaderBlock(id: number, flags: number, bytes: Buffer, selfDependent: boolean, discard: boolean): void {
    const decoded = this.#headerBlocks.decode(bytes);
    if (discard) return;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(id);
    if (existing) {
      // Trailers: they must end the request and carry no pseudo-headers.
      if (existing.remoteEnded) {
        this.#streams.reset(existing, ErrorCode.STREAM_CLOSED);
        return;
      }
      if (!endStream || decoded.malformed || Object.keys(decoded.fields).some((name) => name.startsWith(":"))) {
        this.#streams.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.#streams.endOfRequest(existing);
      return;
    }

    this.#streams.claim(id);
    if (selfDependent) {
      this.#streams.resetId(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (this.#goawaySent || this.#peerGoaway || this.#streams.size >= this.#limits.maxConcurrentStreams) {
      this.#streams.resetId(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const fields = decoded.fields;
    const problem = decoded.malformed ?? requestProblem(fields);
    const contentLength = problem === undefined ? declaredLength(fields, endStream) : undefined;
    if (problem !== undefined || Number.isNaN(contentLength)) {
      this.#streams.resetId(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    // Over the server's total the stream is refused unprocessed, which a client may safely retry.
    if (!this.#shared.admitStream()) {
      this.#streams.resetId(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const stream = this.#streams.open(
      id,
      this.#peerSettings.initialWindow,
      this.#limits.streamWindow,
      contentLength,
      endStream,
      endStream ? undefined : this.#requestTimeouts?.now(),
    );
    if (decoded.tooLarge) {
      this.#streams.send.headers(stream, headersTooLarge, true);
      stream.abandonRequest();
      return;
    }
    this.#onStream(stream, fields);
    if (endStream && !stream.closed) {
      stream.onEnd?.();
      this.#streams.closeIfDone(stream);
    }
  }

  #onPriority(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (payload.length !== 5) {
      this.#streams.resetId(id, ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    // Priorities are advisory and a gRPC answer is one small write; only a self-dependency is an error.
    if ((payload.readUInt32BE(0) & 0x7fffffff) === id) {
      const stream = this.#streams.get(id);
      if (stream) this.#streams.reset(stream, ErrorCode.PROTOCOL_ERROR);
      else this.#streams.resetId(id, ErrorCode.PROTOCOL_ERROR);
    }
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM must be 4 bytes");
    if (id > this.#streams.lastId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.#streams.get(id);
    if (stream) this.#streams.close(stream);
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ack with a payload");
      return;
    }
    const windowDelta = this.#peerSettings.apply(payload);
    this.#settingsSeen = true;
    this.#out.push(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) this.#streams.send.moveStreamWindows(this.#streams.values(), windowDelta);
  }

  #onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING must be 8 bytes");
    if ((flags & Flag.ACK) !== 0) {
      this.#keepalive?.acknowledged();
      return;
    }
    this.#out.push(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      this.#streams.send.openConnection(increment);
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) {
      if (id > this.#streams.lastId)
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    const error = this.#streams.send.openStream(stream, increment);
    if (error !== undefined) this.#streams.reset(stream, error);
  }

  // ---- the connection's life ----

  /** @internal Ends the connection once no stream is open. */
  endIfIdle(): void {
    if (this.#streams.size > 0 || this.#ended) return;
    this.#ended = true;
    this.#out.flush();
    this.#socket.end();
    this.#dropUnlessClosed();
  }

  /** A peer that never closes its side must not hold the socket. */
  #dropUnlessClosed(): void {
    this.#dropTimer = this.#timers.setTimeout(() => this.#socket.destroy(), closeGraceMs).unref();
  }

  /** @internal Ends the connection on an error: GOAWAY with its code, then the socket. */
  fail(err: unknown): void {
    const failure =
      err instanceof ConnectionError
        ? err
        : new ConnectionError(
            ErrorCode.INTERNAL_ERROR,
            `internal error: ${err instanceof Error ? err.message : String(err)}`,
          );
    this.onProtocolError?.(failure.message);
    if (this.#ended) return;
    this.#ended = true;
    this.#reader.clear();
    if (this.#reader.prefaceSeen) this.#out.push(goawayFrame(this.#streams.lastId, failure.code, failure.message));
    this.#out.flush();
    this.#socket.end();
    this.#dropUnlessClosed();
    this.#streams.closeAll();
  }

  #onSocketClose(): void {
    this.#ended = true;
    this.#keepalive?.stop();
    this.#dropTimer?.cancel();
    this.#requestTimeouts?.unwatch(this);
    this.#streams.closeAll();
    this.#shared.forget(this);
    if (this.#admitted) this.#shared.releaseConnection();
    this.onClose?.();
  }
}
