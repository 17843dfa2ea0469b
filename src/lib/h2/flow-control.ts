import {
  answerFrames,
  ConnectionError,
  DEFAULT_WINDOW,
  dataFrame,
  ErrorCode,
  headerBlockFrames,
  MAX_WINDOW,
  windowUpdateFrame,
} from "./frames.js";
import type { Output } from "./output.js";
import type { PeerSettings } from "./settings.js";
import type { H2Stream } from "./streams.js";

// Flow control (RFC 9113 §5.2, §6.9) both ways. Receiving: how much the peer may still send, given back
// in WINDOW_UPDATEs of half a window. Sending: every response frame goes out through here, so body bytes
// (and the trailers behind them) wait while the peer's windows are closed.

/** A server stream's write() reports back-pressure beyond this much queued data. */
const streamHighWater = 64 * 1024;

/** Our receive windows: the connection's here, each stream's on the stream. */
export class ReceiveFlow {
  readonly #connectionWindow: number;
  readonly #streamWindow: number;
  #window: number;
  #unacked = 0;

  constructor(connectionWindow: number, streamWindow: number) {
    this.#connectionWindow = connectionWindow;
    this.#streamWindow = streamWindow;
    this.#window = connectionWindow;
  }

  /** A DATA frame of `bytes` arrived (padding included): it counts against the connection window. */
  take(bytes: number): void {
    if (bytes > this.#window)
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    this.#window -= bytes;
  }

  /** `bytes` of it are done with: the peer may have them back. */
  giveBack(bytes: number): void {
    this.#unacked += bytes;
  }

  /** The connection's WINDOW_UPDATE once half the window is to give back, else undefined. */
  connectionUpdate(): Buffer | undefined {
    const unacked = this.#unacked;
    if (unacked < this.#connectionWindow / 2) return undefined;
    this.#window += unacked;
    this.#unacked = 0;
    return windowUpdateFrame(0, unacked);
  }

  /** A DATA frame of `bytes` on `stream`: false when it is beyond the stream's window. */
  takeStream(stream: H2Stream, bytes: number): boolean {
    if (bytes > stream.recvWindow) return false;
    stream.recvWindow -= bytes;
    stream.recvUnacked += bytes;
    return true;
  }

  /** The stream's WINDOW_UPDATE once half its window has been read, else undefined. */
  streamUpdate(stream: H2Stream): Buffer | undefined {
    const unacked = stream.recvUnacked;
    if (unacked < this.#streamWindow / 2) return undefined;
    stream.recvWindow += unacked;
    stream.recvUnacked = 0;
    return windowUpdateFrame(stream.id, unacked);
  }
}

/** Told when a stream's response has left for good (it may still be reading its request). */
export interface ResponseEnds {
  /** The response ended: trailers or the last body bytes are on their way. */
  responseEnded(stream: H2Stream): void;
  /** A whole unary answer went out in one piece. */
  answered(stream: H2Stream): void;
}

/** Our send windows: what the peer lets us send, on the connection and per stream; and what waits for it. */
export class SendFlow {
  /** The connection's send window. */
  #window = DEFAULT_WINDOW;
  /** Streams with data waiting for a window. */
  readonly #blocked = new Set<H2Stream>();
  readonly #out: Output;
  readonly #peer: PeerSettings;
  readonly #ends: ResponseEnds;

  constructor(out: Output, peer: PeerSettings, ends: ResponseEnds) {
    this.#out = out;
    this.#peer = peer;
    this.#ends = ends;
  }

  /** Response headers, or trailers when `endStream` (they wait for body bytes queued before them). */
  headers(stream: H2Stream, block: Buffer, endStream: boolean): void {
    if (stream.done) return;
    if (endStream && stream.pending) {
      stream.pending.trailers = block;
      stream.endQueued = true;
      return;
    }
    this.#out.push(headerBlockFrames(stream.id, block, endStream, this.#peer.maxFrameSize));
    if (endStream) this.#ends.responseEnded(stream);
  }

  /** Body bytes; false when enough is queued behind flow control that the writer should slow down. */
  data(stream: H2Stream, data: Buffer, endStream: boolean): boolean {
    if (stream.done) return false;
    const pending = stream.pending;
    if (pending) {
      pending.data.push(data);
      pending.bytes += data.length;
      pending.end ||= endStream;
      stream.endQueued ||= endStream;
      return pending.bytes < streamHighWater;
    }
    const sent = this.#sendNow(stream, data, endStream);
    if (sent < data.length) {
      stream.pending = { data: [data.subarray(sent)], bytes: data.length - sent, end: endStream, trailers: undefined };
      stream.endQueued = endStream;
      this.#blocked.add(stream);
      return stream.pending.bytes < streamHighWater;
    }
    if (endStream) this.#ends.responseEnded(stream);
    return true;
  }

  /** A whole response: one buffer when the windows and frame size allow, else frame by frame. */
  answer(stream: H2Stream, headers: Buffer, body: Buffer, trailers: Buffer): void {
    if (stream.done) return;
    const maxFrame = this.#peer.maxFrameSize;
    const fits =
      !stream.pending &&
      body.length <= stream.sendWindow &&
      body.length <= this.#window &&
      body.length <= maxFrame &&
      headers.length <= maxFrame &&
      trailers.length <= maxFrame;
    if (!fits) {
      this.headers(stream, headers, false);
      this.data(stream, body, false);
      this.headers(stream, trailers, true);
      return;
    }
    stream.sendWindow -= body.length;
    this.#window -= body.length;
    this.#out.push(answerFrames(stream.id, headers, body, trailers));
    this.#ends.answered(stream);
  }

  /** The stream is gone: what it had queued is dropped. */
  drop(stream: H2Stream): void {
    if (!stream.pending) return;
    stream.pending = undefined;
    this.#blocked.delete(stream);
  }

  /** A WINDOW_UPDATE for the connection. */
  openConnection(increment: number): void {
    if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
    if (this.#window + increment > MAX_WINDOW) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
    }
    this.#window += increment;
    this.#drainBlocked();
  }

  /** A WINDOW_UPDATE for a stream; the code to reset it with when the update is an error. */
  openStream(stream: H2Stream, increment: number): ErrorCode | undefined {
    if (increment === 0) return ErrorCode.PROTOCOL_ERROR;
    if (stream.sendWindow + increment > MAX_WINDOW) return ErrorCode.FLOW_CONTROL_ERROR;
    stream.sendWindow += increment;
    if (stream.pending) this.#drain(stream);
    return undefined;
  }

  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE moved every open stream's window by `delta` (§6.9.2). */
  moveStreamWindows(streams: Iterable<H2Stream>, delta: number): void {
    for (const stream of streams) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "a stream window grew above 2^31-1");
      }
    }
    if (delta > 0) this.#drainBlocked();
  }

  /** Sends as much of `data` as the windows allow; returns how far it got. */
  #sendNow(stream: H2Stream, data: Buffer, endStream: boolean): number {
    const maxFrame = this.#peer.maxFrameSize;
    let at = 0;
    do {
      const size = Math.max(0, Math.min(data.length - at, stream.sendWindow, this.#window, maxFrame));
      // An empty frame goes out only as the empty body it is (to carry END_STREAM).
      if (size === 0 && (at < data.length || !endStream)) break;
      const last = at + size === data.length;
      this.#out.push(dataFrame(stream.id, data, at, size, last && endStream));
      stream.sendWindow -= size;
      this.#window -= size;
      at += size;
    } while (at < data.length);
    return at;
  }

  #drainBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#window <= 0) return;
      this.#drain(stream);
    }
  }

  #drain(stream: H2Stream): void {
    const pending = stream.pending;
    if (!pending) return;
    while (pending.data.length > 0) {
      const chunk = pending.data[0] as Buffer;
      const isLast = pending.data.length === 1;
      const sent = this.#sendNow(stream, chunk, isLast && pending.end && !pending.trailers);
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
      this.#out.push(headerBlockFrames(stream.id, pending.trailers, true, this.#peer.maxFrameSize));
      this.#ends.responseEnded(stream);
    } else if (pending.end) {
      this.#ends.responseEnded(stream);
    }
  }
}
