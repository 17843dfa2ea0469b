import type { Socket } from "node:net";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  frame,
  goawayFrame,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { HpackDecoder, HpackError } from "./hpack.js";

// The server side of one HTTP/2 connection (RFC 9113), written for gRPC's request/response pattern: it
// parses frames straight off the socket, keeps HPACK and flow-control state, hands each request stream to
// the application, and batches everything it sends in one event-loop turn into one socket write.
// node:http2 spends more per call in its C++/JS crossings and per-stream objects than the data-plane
// services spend deciding the answer (measured in bench/ratelimit); this keeps a call to a few small
// objects and one write.

/** Request headers: lowercase names; a repeated name's values joined with ", " (cookies with "; "). */
export type RequestHeaders = Readonly<Record<string, string>>;

export interface H2ConnectionOptions {
  /** Announced as SETTINGS_MAX_CONCURRENT_STREAMS and enforced (REFUSED_STREAM beyond it). Default 1000. */
  maxConcurrentStreams?: number;
  /** A request whose body has not ended this long after its headers is reset (CANCEL). Default 10 s. */
  requestTimeoutMs?: number;
  /** Largest decoded request header list (RFC 9113 §6.5.2); larger requests get HTTP 431. Default 64 KiB. */
  maxHeaderListSize?: number;
  /** Receive window per stream, announced as SETTINGS_INITIAL_WINDOW_SIZE. Default 1 MiB. */
  streamWindow?: number;
  /**
   * Receive window of the whole connection. It is given back only as requests complete, so it also bounds
   * the request bytes one connection can make the server hold. Default 16 MiB.
   */
  connectionWindow?: number;
  /** Ping after this long; a peer that does not answer within `keepaliveTimeoutMs` is dropped. 0 turns it off. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

/** A protocol error that ends the connection (RFC 9113 §5.4.1). */
class ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Waiting to be sent because a flow-control window is closed. */
interface Pending {
  data: Buffer[];
  bytes: number;
  end: boolean;
  trailers: Buffer | undefined;
}

/**
 * How many closed stream ids are remembered: frames the peer sent before it saw our reset are ignored,
 * and a HEADERS frame on a stream that has closed is told apart from one on an id never used.
 */
const rememberedClosed = 256;
/** How many more calls a connection may have cut short than it lets the server answer (see #closeStream). */
const maxCancelBudget = 1_000;
/** More CONTINUATION frames than this for one header block is a flood, whatever their size. */
const maxContinuations = 64;
/** How often incomplete requests are checked against the request timeout. */
const requestSweepMs = 1_000;
/** Output the peer has not read yet beyond which the connection stops reading its requests. */
const writeHighWater = 1024 * 1024;
/** A server stream's write() reports back-pressure beyond this much queued data. */
const streamHighWater = 64 * 1024;
const connectionSpecificHeaders = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

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
  #closed = false;

  constructor(
    readonly connection: H2Connection,
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
    /** @internal */ readonly contentLength: number | undefined,
  ) {
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

  get peer(): string {
    return this.connection.peer;
  }

  /** Sends the response headers; `endStream` makes it the whole (trailers-only) response. */
  respond(block: Buffer, endStream: boolean): void {
    this.connection.sendHeaders(this, block, endStream);
  }

  /** Sends body bytes; false when enough is queued behind flow control that the writer should slow down. */
  write(data: Buffer, endStream = false): boolean {
    return this.connection.sendData(this, data, endStream);
  }

  /** Ends the response with trailers, after any queued body bytes. */
  trailers(block: Buffer): void {
    this.connection.sendHeaders(this, block, true);
  }

  /** A complete response: headers, one body chunk and trailers, in one write when the windows allow. */
  answer(headers: Buffer, body: Buffer, trailers: Buffer): void {
    this.connection.sendAnswer(this, headers, body, trailers);
  }

  /** RST_STREAM with `code`: the stream ends now, whatever was queued. */
  reset(code: ErrorCode): void {
    this.connection.resetStream(this, code);
  }

  /**
   * After a complete response, asks the client to stop sending the rest of its request (RST_STREAM
   * NO_ERROR, RFC 9113 §8.1). Does nothing when the request is complete or the response still queued.
   */
  abandonRequest(): void {
    if (!this.#closed && !this.remoteEnded && this.localEnded && !this.pending) {
      this.connection.resetStream(this, ErrorCode.NO_ERROR);
    }
  }

  /** @internal */
  markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    return true;
  }
}

export type StreamListener = (stream: H2Stream, headers: RequestHeaders) => void;

/** The server side of one connection; it owns the socket. */
export class H2Connection {
  readonly peer: string;
  /** Called once when the socket is gone. */
  onClose: (() => void) | undefined;
  /** Called with the reason when the connection ends on a protocol error (for logs). */
  onProtocolError: ((message: string) => void) | undefined;

  readonly #socket: Socket;
  readonly #onStream: StreamListener;
  readonly #decoder = new HpackDecoder(4096);
  readonly #streams = new Map<number, H2Stream>();
  readonly #blocked = new Set<H2Stream>();
  /** Recently closed stream ids, and whether we reset them. */
  readonly #recentlyClosed = new Map<number, boolean>();
  /** Streams whose request body is still coming, oldest first. */
  readonly #incomplete = new Set<H2Stream>();
  readonly #maxConcurrent: number;
  readonly #requestTimeoutMs: number;
  readonly #maxHeaderList: number;
  readonly #streamWindow: number;
  readonly #connectionWindow: number;
  #input: Buffer | undefined;
  #prefaceSeen = false;
  #settingsSeen = false;
  #lastStreamId = 0;
  #headerBlock:
    | {
        id: number;
        flags: number;
        fragments: Buffer[];
        bytes: number;
        selfDependent: boolean;
        /** HEADERS on a stream we reset: decoded to keep HPACK in step, then dropped. */
        discard: boolean;
      }
    | undefined;
  #sendWindow = DEFAULT_WINDOW;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #recvWindow: number;
  #recvUnacked = 0;
  #out: Buffer[] = [];
  #flushScheduled = false;
  #processing = false;
  #readingPaused = false;
  #goawaySent = false;
  #peerGoaway = false;
  #cancelBudget = maxCancelBudget;
  #ended = false;
  #keepalive: NodeJS.Timeout | undefined;
  #pingTimeout: NodeJS.Timeout | undefined;
  #requestSweep: NodeJS.Timeout | undefined;

  constructor(socket: Socket, onStream: StreamListener, options: H2ConnectionOptions = {}) {
    this.#socket = socket;
    this.#onStream = onStream;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#maxConcurrent = options.maxConcurrentStreams ?? 1_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#maxHeaderList = options.maxHeaderListSize ?? 64 * 1024;
    this.#streamWindow = options.streamWindow ?? 1024 * 1024;
    this.#connectionWindow = options.connectionWindow ?? 16 * 1024 * 1024;
    this.#recvWindow = this.#connectionWindow;

    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onSocketData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.#onSocketClose());
    socket.on("drain", () => this.#onDrain());

    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, this.#maxHeaderList],
    ];
    settings.unshift([Setting.MAX_CONCURRENT_STREAMS, this.#maxConcurrent]);
    this.#out.push(settingsFrame(settings));
    if (this.#connectionWindow > DEFAULT_WINDOW) {
      this.#out.push(windowUpdateFrame(0, this.#connectionWindow - DEFAULT_WINDOW));
    }
    this.#scheduleFlush();

    const keepaliveTimeMs = options.keepaliveTimeMs ?? 30_000;
    const keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 10_000;
    if (keepaliveTimeMs > 0) {
      this.#keepalive = setInterval(() => this.#ping(keepaliveTimeoutMs), keepaliveTimeMs);
      this.#keepalive.unref();
    }
    if (this.#requestTimeoutMs > 0) {
      this.#requestSweep = setInterval(() => this.#sweepIncomplete(), Math.min(requestSweepMs, this.#requestTimeoutMs));
      this.#requestSweep.unref();
    }
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
      this.#push(goawayFrame(this.#lastStreamId, ErrorCode.NO_ERROR));
    }
    this.#endIfIdle();
  }

  /** Drops the connection now. */
  destroy(): void {
    this.#socket.destroy();
  }

  // ---- receiving ----

  #onSocketData(chunk: Buffer): void {
    if (this.#ended) return;
    let data = chunk;
    if (this.#input) {
      data = Buffer.concat([this.#input, chunk]);
      this.#input = undefined;
    }
    let offset = 0;
    this.#processing = true;
    try {
      if (!this.#prefaceSeen) {
        const have = Math.min(data.length, PREFACE.length);
        if (!data.subarray(0, have).equals(PREFACE.subarray(0, have))) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 connection preface");
        }
        if (data.length < PREFACE.length) {
          this.#input = data;
          return;
        }
        this.#prefaceSeen = true;
        offset = PREFACE.length;
      }
      while (data.length - offset >= FRAME_HEADER_BYTES && !this.#ended) {
        const length = data.readUIntBE(offset, 3);
        if (length > DEFAULT_MAX_FRAME_SIZE) {
          throw new ConnectionError(
            ErrorCode.FRAME_SIZE_ERROR,
            `a frame of ${length} bytes is over the frame size limit`,
          );
        }
        if (data.length - offset < FRAME_HEADER_BYTES + length) break;
        const type = data.readUInt8(offset + 3);
        const flags = data.readUInt8(offset + 4);
        const id = data.readUInt32BE(offset + 5) & 0x7fffffff;
        const payload = data.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
        offset += FRAME_HEADER_BYTES + length;
        this.#onFrame(type, flags, id, payload);
      }
      if (offset < data.length && !this.#ended) this.#input = data.subarray(offset);
      this.#acknowledgeReceived();
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#processing = false;
    }
    this.#flush();
  }

  #onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#headerBlock && type !== FrameType.CONTINUATION) {
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
        this.#endIfIdle();
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(id, payload);
        return;
      case FrameType.CONTINUATION:
        this.#onContinuation(flags, id, payload);
        return;
      default:
      // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  /** The frame's content without its padding (RFC 9113 §6.1), after `skip` bytes of fixed fields. */
  #unpad(flags: number, payload: Buffer, skip: number): Buffer {
    if ((flags & Flag.PADDED) === 0) {
      if (payload.length < skip)
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "frame too short for its fields");
      return skip === 0 ? payload : payload.subarray(skip);
    }
    if (payload.length < 1 + skip) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "padded frame too short");
    const padding = payload.readUInt8(0);
    if (padding > payload.length - 1 - skip) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame");
    }
    return payload.subarray(1 + skip, payload.length - padding);
  }

  #onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    // Flow control counts the whole frame, padding included, whatever happens to the stream.
    if (payload.length > this.#recvWindow) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    }
    this.#recvWindow -= payload.length;
    const data = this.#unpad(flags, payload, 0);
    // Padding (and frames for streams that are gone) is given back at once; request bytes only when
    // their request completes, so the connection window bounds what a client can make the server hold.
    this.#recvUnacked += payload.length - data.length;
    const stream = this.#streams.get(id);
    if (!stream) {
      this.#recvUnacked += data.length;
      if (id > this.#lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      if (this.#recentlyClosed.get(id) !== true) this.#push(rstStreamFrame(id, ErrorCode.STREAM_CLOSED));
      return;
    }
    if (stream.remoteEnded || payload.length > stream.recvWindow) {
      this.#recvUnacked += data.length;
      this.#reset(stream, stream.remoteEnded ? ErrorCode.STREAM_CLOSED : ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    stream.recvWindow -= payload.length;
    stream.recvUnacked += payload.length;
    stream.received += data.length;
    stream.held += data.length;
    if (stream.contentLength !== undefined && stream.received > stream.contentLength) {
      this.#reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const last = (flags & Flag.END_STREAM) !== 0;
    if (data.length > 0) stream.onData?.(data, last);
    if (stream.closed) return;
    if (last) {
      this.#endOfRequest(stream);
    } else if (stream.recvUnacked >= this.#streamWindow / 2 && !stream.closed) {
      this.#push(windowUpdateFrame(id, stream.recvUnacked));
      stream.recvWindow += stream.recvUnacked;
      stream.recvUnacked = 0;
    }
  }

  /** The stream's request bytes are done with: the connection window gets them back. */
  #release(stream: H2Stream): void {
    this.#recvUnacked += stream.held;
    stream.held = 0;
    this.#incomplete.delete(stream);
  }

  /** Resets requests whose body has not ended within the request timeout (slow or stalled uploads). */
  #sweepIncomplete(): void {
    const cutoff = Date.now() - this.#requestTimeoutMs;
    try {
      for (const stream of this.#incomplete) {
        if (stream.openedAt > cutoff) break;
        this.#reset(stream, ErrorCode.CANCEL);
      }
      this.#acknowledgeReceived();
    } catch (err) {
      this.#fail(err);
    }
  }

  #endOfRequest(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.contentLength !== undefined && stream.received !== stream.contentLength) {
      this.#reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.remoteEnded = true;
    this.#release(stream);
    stream.onEnd?.();
    this.#closeIfDone(stream);
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a client stream id must be odd");
    const priority = (flags & Flag.PRIORITY) !== 0;
    const fragment = this.#unpad(flags, payload, priority ? 5 : 0);
    let selfDependent = false;
    if (priority) {
      const at = (flags & Flag.PADDED) !== 0 ? 1 : 0;
      selfDependent = (payload.readUInt32BE(at) & 0x7fffffff) === id;
    }
    let discard = false;
    if (!this.#streams.has(id) && id <= this.#lastStreamId) {
      const reset = this.#recentlyClosed.get(id);
      // Trailers that crossed our RST_STREAM are ignored (RFC 9113 §5.1), once HPACK has seen them.
      if (reset === true) discard = true;
      else if (reset === false) throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      else throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `stream ${id} is below a stream id already used`);
    }
    const ends = (flags & Flag.END_HEADERS) !== 0;
    // A block that spans frames is kept until its end: copied, so it does not hold whole socket chunks.
    this.#headerBlock = {
      id,
      flags,
      fragments: [ends ? fragment : Buffer.from(fragment)],
      bytes: fragment.length,
      selfDependent,
      discard,
    };
    if (ends) this.#endHeaderBlock();
  }

  #onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.#headerBlock;
    if (!block || block.id !== id) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block to continue");
    }
    block.fragments.push(Buffer.from(payload));
    block.bytes += payload.length;
    // An encoded block far beyond the decoded limit, or in very many pieces, is a flood, not a request
    // (RFC 9113 §10.5.1).
    if (block.bytes > this.#maxHeaderList * 2 + DEFAULT_MAX_FRAME_SIZE || block.fragments.length > maxContinuations) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    if ((flags & Flag.END_HEADERS) !== 0) this.#endHeaderBlock();
  }

  #endHeaderBlock(): void {
    const block = this.#headerBlock;
    if (!block) return;
    this.#headerBlock = undefined;
    const bytes =
      block.fragments.length === 1 ? (block.fragments[0] as Buffer) : Buffer.concat(block.fragments, block.bytes);
    let decoded: ReturnType<HpackDecoder["decode"]>;
    try {
      decoded = this.#decoder.decode(bytes, this.#maxHeaderList);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    if (block.discard) return;
    const endStream = (block.flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(block.id);
    if (existing) {
      // Trailers: they must end the request and carry no pseudo-headers.
      if (existing.remoteEnded) {
        this.#reset(existing, ErrorCode.STREAM_CLOSED);
        return;
      }
      if (!endStream || decoded.malformed || Object.keys(decoded.fields).some((name) => name.startsWith(":"))) {
        this.#reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.#endOfRequest(existing);
      return;
    }

    const id = block.id;
    this.#lastStreamId = id;
    if (block.selfDependent) {
      this.#resetId(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (this.#goawaySent || this.#peerGoaway || this.#streams.size >= this.#maxConcurrent) {
      this.#resetId(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const fields = decoded.fields;
    const problem = decoded.malformed ?? requestProblem(fields);
    if (problem !== undefined) {
      this.#resetId(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    let contentLength: number | undefined;
    const declared = fields["content-length"];
    if (declared !== undefined) {
      contentLength = /^\d{1,15}$/.test(declared) ? Number(declared) : Number.NaN;
      if (Number.isNaN(contentLength) || (endStream && contentLength !== 0)) {
        this.#resetId(id, ErrorCode.PROTOCOL_ERROR);
        return;
      }
    }
    const stream = new H2Stream(this, id, this.#peerInitialWindow, this.#streamWindow, contentLength);
    this.#streams.set(id, stream);
    // A request without a body is complete before the application sees it.
    stream.remoteEnded = endStream;
    if (!endStream) {
      stream.openedAt = Date.now();
      this.#incomplete.add(stream);
    }
    if (decoded.tooLarge) {
      this.sendHeaders(stream, headersTooLarge, true);
      stream.abandonRequest();
      return;
    }
    this.#onStream(stream, fields);
    if (endStream && !stream.closed) {
      stream.onEnd?.();
      this.#closeIfDone(stream);
    }
  }

  #onPriority(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (payload.length !== 5) {
      this.#resetId(id, ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    // Priorities are advisory and a gRPC answer is one small write; only a self-dependency is an error.
    if ((payload.readUInt32BE(0) & 0x7fffffff) === id) {
      const stream = this.#streams.get(id);
      if (stream) this.#reset(stream, ErrorCode.PROTOCOL_ERROR);
      else this.#resetId(id, ErrorCode.PROTOCOL_ERROR);
    }
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM must be 4 bytes");
    if (id > this.#lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.#streams.get(id);
    if (stream) this.#closeStream(stream);
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ack with a payload");
      return;
    }
    if (payload.length % 6 !== 0)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
    let windowDelta = 0;
    for (let at = 0; at < payload.length; at += 6) {
      const setting = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (setting) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH must be 0 or 1");
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) {
            throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
          }
          windowDelta += value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
          }
          this.#peerMaxFrame = value;
          break;
        default:
        // The peer's header table size only matters to an encoder that indexes; ours never does.
      }
    }
    this.#settingsSeen = true;
    this.#push(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) {
      for (const stream of this.#streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > MAX_WINDOW) {
          throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "a stream window grew above 2^31-1");
        }
      }
      if (windowDelta > 0) this.#drainBlocked();
    }
  }

  #onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING must be 8 bytes");
    if ((flags & Flag.ACK) !== 0) {
      if (this.#pingTimeout) clearTimeout(this.#pingTimeout);
      this.#pingTimeout = undefined;
      return;
    }
    this.#push(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      if (this.#sendWindow + increment > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      }
      this.#sendWindow += increment;
      this.#drainBlocked();
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) {
      if (id > this.#lastStreamId)
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    if (increment === 0) {
      this.#reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (stream.sendWindow + increment > MAX_WINDOW) {
      this.#reset(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.pending) this.#drain(stream);
  }

  /** Gives the peer back the connection window it used, in steps of half the window. */
  #acknowledgeReceived(): void {
    if (this.#recvUnacked >= this.#connectionWindow / 2) {
      this.#push(windowUpdateFrame(0, this.#recvUnacked));
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
  }

  // ---- sending ----

  /** @internal */
  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    if (stream.done) return;
    if (endStream && stream.pending) {
      // Headers that end the stream are trailers: they wait for the body queued before them.
      stream.pending.trailers = block;
      stream.endQueued = true;
      return;
    }
    this.#pushHeaderBlock(stream.id, block, endStream);
    if (endStream) this.#localEnd(stream);
  }

  /** @internal */
  sendData(stream: H2Stream, data: Buffer, endStream: boolean): boolean {
    if (stream.done) return false;
    if (stream.pending) {
      stream.pending.data.push(data);
      stream.pending.bytes += data.length;
      stream.pending.end ||= endStream;
      stream.endQueued ||= endStream;
      return stream.pending.bytes < streamHighWater;
    }
    const sent = this.#sendDataNow(stream, data, 0, endStream);
    if (sent < data.length) {
      stream.pending = { data: [data.subarray(sent)], bytes: data.length - sent, end: endStream, trailers: undefined };
      stream.endQueued = endStream;
      this.#blocked.add(stream);
      return stream.pending.bytes < streamHighWater;
    }
    if (endStream) this.#localEnd(stream);
    return true;
  }

  /** @internal */
  sendAnswer(stream: H2Stream, headers: Buffer, body: Buffer, trailers: Buffer): void {
    if (stream.done) return;
    const fits =
      !stream.pending &&
      body.length <= stream.sendWindow &&
      body.length <= this.#sendWindow &&
      body.length <= this.#peerMaxFrame &&
      headers.length <= this.#peerMaxFrame &&
      trailers.length <= this.#peerMaxFrame;
    if (!fits) {
      this.sendHeaders(stream, headers, false);
      this.sendData(stream, body, false);
      this.sendHeaders(stream, trailers, true);
      return;
    }
    // The usual gRPC answer: three frames in one buffer.
    const out = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headers.length + body.length + trailers.length);
    let at = 0;
    writeFrameHeader(out, at, headers.length, FrameType.HEADERS, Flag.END_HEADERS, stream.id);
    at += FRAME_HEADER_BYTES;
    out.set(headers, at);
    at += headers.length;
    writeFrameHeader(out, at, body.length, FrameType.DATA, 0, stream.id);
    at += FRAME_HEADER_BYTES;
    out.set(body, at);
    at += body.length;
    writeFrameHeader(out, at, trailers.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id);
    out.set(trailers, at + FRAME_HEADER_BYTES);
    stream.sendWindow -= body.length;
    this.#sendWindow -= body.length;
    this.#push(out);
    if (this.#cancelBudget < maxCancelBudget) this.#cancelBudget += 1;
    this.#localEnd(stream);
  }

  /** @internal */
  resetStream(stream: H2Stream, code: ErrorCode): void {
    if (stream.closed) return;
    this.#reset(stream, code);
  }

  /** Sends as much of `data` from `from` as the windows allow; returns how far it got. */
  #sendDataNow(stream: H2Stream, data: Buffer, from: number, endStream: boolean): number {
    let at = from;
    do {
      const size = Math.max(0, Math.min(data.length - at, stream.sendWindow, this.#sendWindow, this.#peerMaxFrame));
      // An empty frame goes out only as the empty body it is (to carry END_STREAM).
      if (size === 0 && (at < data.length || !endStream)) break;
      const last = at + size === data.length;
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
      writeFrameHeader(out, 0, size, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, stream.id);
      out.set(data.subarray(at, at + size), FRAME_HEADER_BYTES);
      this.#push(out);
      stream.sendWindow -= size;
      this.#sendWindow -= size;
      at += size;
    } while (at < data.length);
    return at;
  }

  #drainBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#drain(stream);
    }
  }

  #drain(stream: H2Stream): void {
    const pending = stream.pending;
    if (!pending) return;
    while (pending.data.length > 0) {
      const chunk = pending.data[0] as Buffer;
      const isLast = pending.data.length === 1;
      const sent = this.#sendDataNow(stream, chunk, 0, isLast && pending.end && !pending.trailers);
      pending.bytes -= sent;
      if (sent < chunk.length) {
        pending.data[0] = chunk.subarray(sent);
        return;
      }
      pending.data.shift();
    }
    stream.pending = undefined;
    this.#blocked.delete(stream);
    if (pending.trailers) {
      this.#pushHeaderBlock(stream.id, pending.trailers, true);
      this.#localEnd(stream);
    } else if (pending.end) {
      this.#localEnd(stream);
    }
  }

  #pushHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    if (block.length <= max) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(
        out,
        0,
        block.length,
        FrameType.HEADERS,
        Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0),
        id,
      );
      out.set(block, FRAME_HEADER_BYTES);
      this.#push(out);
      return;
    }
    for (let at = 0; at < block.length; at += max) {
      const piece = block.subarray(at, at + max);
      const last = at + max >= block.length;
      const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (at === 0 && endStream ? Flag.END_STREAM : 0);
      this.#push(frame(type, flags, id, piece));
    }
  }

  #localEnd(stream: H2Stream): void {
    stream.localEnded = true;
    this.#closeIfDone(stream);
  }

  #closeIfDone(stream: H2Stream): void {
    if (stream.localEnded && stream.remoteEnded) this.#closeStream(stream);
  }

  #reset(stream: H2Stream, code: ErrorCode): void {
    this.#resetId(stream.id, code);
    this.#closeStream(stream);
  }

  #resetId(id: number, code: ErrorCode): void {
    this.#push(rstStreamFrame(id, code));
    this.#remember(id, true);
  }

  #remember(id: number, reset: boolean): void {
    if (this.#recentlyClosed.get(id) === true) return;
    this.#recentlyClosed.set(id, reset);
    if (this.#recentlyClosed.size > rememberedClosed) {
      const oldest = this.#recentlyClosed.keys().next().value;
      if (oldest !== undefined) this.#recentlyClosed.delete(oldest);
    }
  }

  #closeStream(stream: H2Stream): void {
    if (!stream.markClosed()) return;
    this.#streams.delete(stream.id);
    this.#remember(stream.id, false);
    this.#release(stream);
    if (!stream.localEnded && !stream.endQueued && !this.#ended) {
      // A call cut short before its answer (reset by the client, or by us over something the client sent)
      // may have started work for nothing: the "rapid reset" attacks. A connection may cut short only so
      // many more calls than it lets the server answer.
      this.#cancelBudget -= 1;
      if (this.#cancelBudget < 0) {
        this.#fail(new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many calls cut short"));
      }
    }
    if (stream.pending) {
      stream.pending = undefined;
      this.#blocked.delete(stream);
    }
    stream.onClose?.();
    if (this.#goawaySent || this.#peerGoaway) this.#endIfIdle();
  }

  #push(bytes: Buffer): void {
    this.#out.push(bytes);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    // Input processing flushes when it is done; answers that come later (after a Redis reply) are
    // gathered until the event loop's check phase, so one write carries all of them.
    if (this.#processing || this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const out = this.#out;
    if (out.length === 0) return;
    this.#out = [];
    if (this.#socket.destroyed || !this.#socket.writable) return;
    this.#socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    if (this.#socket.writableLength > writeHighWater && !this.#readingPaused) {
      // The peer is not reading its answers; stop reading its requests until it does.
      this.#readingPaused = true;
      this.#socket.pause();
    }
  }

  #onDrain(): void {
    if (!this.#readingPaused) return;
    this.#readingPaused = false;
    this.#socket.resume();
  }

  #ping(timeoutMs: number): void {
    if (this.#pingTimeout || this.#ended) return;
    this.#push(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    this.#pingTimeout = setTimeout(() => this.#socket.destroy(), timeoutMs);
    this.#pingTimeout.unref();
  }

  #endIfIdle(): void {
    if (this.#streams.size > 0 || this.#ended) return;
    this.#ended = true;
    this.#flush();
    this.#socket.end();
    // A peer that never closes its side must not hold the socket.
    setTimeout(() => this.#socket.destroy(), 1_000).unref();
  }

  #fail(err: unknown): void {
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
    this.#input = undefined;
    if (this.#prefaceSeen) this.#push(goawayFrame(this.#lastStreamId, failure.code, failure.message));
    this.#flush();
    this.#socket.end();
    // A peer that never closes its side must not hold the socket.
    setTimeout(() => this.#socket.destroy(), 1_000).unref();
    for (const stream of [...this.#streams.values()]) this.#closeStream(stream);
  }

  #onSocketClose(): void {
    this.#ended = true;
    if (this.#keepalive) clearInterval(this.#keepalive);
    if (this.#pingTimeout) clearTimeout(this.#pingTimeout);
    if (this.#requestSweep) clearInterval(this.#requestSweep);
    for (const stream of [...this.#streams.values()]) this.#closeStream(stream);
    this.onClose?.();
  }
}

/** What is wrong with a request's header list (RFC 9113 §8.2–8.3), or undefined. */
function requestProblem(fields: RequestHeaders): string | undefined {
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

/** HTTP 431, for a request whose headers are over the limit. */
const headersTooLarge = Buffer.from([0x08, 0x03, 0x34, 0x33, 0x31]);
