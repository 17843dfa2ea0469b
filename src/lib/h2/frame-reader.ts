import { ConnectionError, DEFAULT_MAX_FRAME_SIZE, ErrorCode, FRAME_HEADER_BYTES, PREFACE } from "./frames.js";

/** Where the frames read go; the connection, called once per frame, in order. */
export interface FrameSink {
  onFrame(type: number, flags: number, id: number, payload: Buffer): void;
  /** Reading stops when this turns true (the connection ended on a frame). */
  readonly ended: boolean;
}

/**
 * Cuts the bytes a client sends into frames: first the connection preface (RFC 9113 §3.4), then frames
 * (§4.1) within our SETTINGS_MAX_FRAME_SIZE. A frame's payload is a view into the socket's chunk; a frame
 * split across chunks waits for the rest.
 */
export class FrameReader {
  #rest: Buffer | undefined;
  #prefaceSeen = false;

  /** The client's preface has arrived: the connection speaks HTTP/2. */
  get prefaceSeen(): boolean {
    return this.#prefaceSeen;
  }

  /** Reads the frames `chunk` completes; throws a ConnectionError on a bad preface or an oversized frame. */
  read(chunk: Buffer, sink: FrameSink): void {
    let data = chunk;
    if (this.#rest) {
      data = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    let offset = 0;
    if (!this.#prefaceSeen) {
      const have = Math.min(data.length, PREFACE.length);
      if (!data.subarray(0, have).equals(PREFACE.subarray(0, have))) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 connection preface");
      }
      if (data.length < PREFACE.length) {
        this.#rest = data;
        return;
      }
      this.#prefaceSeen = true;
      offset = PREFACE.length;
    }
    while (data.length - offset >= FRAME_HEADER_BYTES && !sink.ended) {
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
      sink.onFrame(type, flags, id, payload);
    }
    if (offset < data.length && !sink.ended) this.#rest = data.subarray(offset);
  }

  /** Drops what is buffered (the connection has ended). */
  clear(): void {
    this.#rest = undefined;
  }
}
