import type { Timers } from "../clock.js";
import {
  ConnectionError,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "./frames.js";
import type { RequestTimeouts } from "./request-timeouts.js";
import type { ServerLimits } from "./server-limits.js";

// SETTINGS (RFC 9113 §6.5) both ways: the limits this server announces and enforces, with their
// defaults, and the peer's settings that shape what we send.

export interface H2ConnectionOptions {
  /** Announced as SETTINGS_MAX_CONCURRENT_STREAMS and enforced (REFUSED_STREAM beyond it). Default 1000. */
  maxConcurrentStreams?: number;
  /**
   * A request whose body has not ended this long after its headers is reset (CANCEL). Default 10 s;
   * 0 turns it off. Ignored when `requestTimeouts` is given (it has its own).
   */
  requestTimeoutMs?: number;
  /** A sweep shared by the connections of one server; without it the connection runs its own. */
  requestTimeouts?: RequestTimeouts;
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
  /** Time for keepalives, the request timeout and closing. Default the system clock. */
  timers?: Timers;
  /** Bounds shared with the server's other connections (connections, streams, bytes held); default none. */
  serverLimits?: ServerLimits;
}

/** The limits of one connection, defaults applied. */
export interface ConnectionLimits {
  readonly maxConcurrentStreams: number;
  readonly requestTimeoutMs: number;
  readonly maxHeaderListSize: number;
  readonly streamWindow: number;
  readonly connectionWindow: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
}

export function connectionLimits(options: H2ConnectionOptions): ConnectionLimits {
  return {
    maxConcurrentStreams: options.maxConcurrentStreams ?? 1_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    maxHeaderListSize: options.maxHeaderListSize ?? 64 * 1024,
    streamWindow: options.streamWindow ?? 1024 * 1024,
    connectionWindow: options.connectionWindow ?? 16 * 1024 * 1024,
    keepaliveTimeMs: options.keepaliveTimeMs ?? 30_000,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 10_000,
  };
}

/** What the server sends first: its SETTINGS, and the connection window opened beyond the default. */
export function serverPreface(limits: ConnectionLimits): Buffer[] {
  const frames = [
    settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, limits.streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
    ]),
  ];
  if (limits.connectionWindow > DEFAULT_WINDOW) {
    frames.push(windowUpdateFrame(0, limits.connectionWindow - DEFAULT_WINDOW));
  }
  return frames;
}

/** The peer's settings that matter to a server that never pushes and never indexes what it encodes. */
export class PeerSettings {
  /** SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window. */
  initialWindow = DEFAULT_WINDOW;
  /** SETTINGS_MAX_FRAME_SIZE: the largest frame we may send. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  /** Applies a SETTINGS payload (not an ack); returns how much every open stream's send window moves. */
  apply(payload: Buffer): number {
    if (payload.length % 6 !== 0) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
    }
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
          windowDelta += value - this.initialWindow;
          this.initialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
          }
          this.maxFrameSize = value;
          break;
        default:
        // The peer's header table size only matters to an encoder that indexes; ours never does.
      }
    }
    return windowDelta;
  }
}
