// HTTP/2 framing (RFC 9113 §4, §6, §7): frame types, flags, settings and error codes, the 9-byte frame
// header, and the frames a server answering gRPC writes, each built straight into one buffer. Only what
// such a server needs.

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A protocol error that ends the connection (RFC 9113 §5.4.1). */
export class ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME_HEADER_BYTES = 9;
/** The smallest SETTINGS_MAX_FRAME_SIZE and the one every peer starts with. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2_147_483_647;

/** Writes a frame header at `offset` of `out`. */
export function writeFrameHeader(
  out: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[offset] = length >>> 16;
  out[offset + 1] = (length >>> 8) & 0xff;
  out[offset + 2] = length & 0xff;
  out[offset + 3] = type;
  out[offset + 4] = flags;
  out.writeUInt32BE(streamId, offset + 5);
}

/** One frame as a fresh buffer. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload ? payload.byteLength : 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return out;
}

export function rstStreamFrame(streamId: number, code: ErrorCode): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return out;
}

export function goawayFrame(lastStreamId: number, code: ErrorCode, debug = ""): Buffer {
  const text = Buffer.from(debug, "utf8");
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + text.length);
  writeFrameHeader(out, 0, 8 + text.length, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId, FRAME_HEADER_BYTES);
  out.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  out.set(text, FRAME_HEADER_BYTES + 8);
  return out;
}

/** A frame's content without its padding (RFC 9113 §6.1), after `skip` bytes of fixed fields. */
export function unpad(flags: number, payload: Buffer, skip: number): Buffer {
  if ((flags & Flag.PADDED) === 0) {
    if (payload.length < skip) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "frame too short for its fields");
    return skip === 0 ? payload : payload.subarray(skip);
  }
  if (payload.length < 1 + skip) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "padded frame too short");
  const padding = payload.readUInt8(0);
  if (padding > payload.length - 1 - skip) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame");
  }
  return payload.subarray(1 + skip, payload.length - padding);
}

/** `size` bytes of `data` from `from` as one DATA frame. */
export function dataFrame(streamId: number, data: Buffer, from: number, size: number, endStream: boolean): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
  writeFrameHeader(out, 0, size, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
  out.set(data.subarray(from, from + size), FRAME_HEADER_BYTES);
  return out;
}

/** A header block as HEADERS, and CONTINUATION frames when it is larger than `maxFrame`, in one buffer. */
export function headerBlockFrames(streamId: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const end = endStream ? Flag.END_STREAM : 0;
  if (block.length <= maxFrame) {
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
    writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | end, streamId);
    out.set(block, FRAME_HEADER_BYTES);
    return out;
  }
  const count = Math.ceil(block.length / maxFrame);
  const out = Buffer.allocUnsafe(count * FRAME_HEADER_BYTES + block.length);
  let at = 0;
  for (let from = 0; from < block.length; from += maxFrame) {
    const piece = block.subarray(from, from + maxFrame);
    const last = from + maxFrame >= block.length;
    const type = from === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    writeFrameHeader(out, at, piece.length, type, (last ? Flag.END_HEADERS : 0) | (from === 0 ? end : 0), streamId);
    out.set(piece, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + piece.length;
  }
  return out;
}

/** A whole response, the usual gRPC answer: HEADERS, one DATA and trailing HEADERS, in one buffer. */
export function answerFrames(streamId: number, headers: Buffer, body: Buffer, trailers: Buffer): Buffer {
  const out = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headers.length + body.length + trailers.length);
  let at = 0;
  writeFrameHeader(out, at, headers.length, FrameType.HEADERS, Flag.END_HEADERS, streamId);
  at += FRAME_HEADER_BYTES;
  out.set(headers, at);
  at += headers.length;
  writeFrameHeader(out, at, body.length, FrameType.DATA, 0, streamId);
  at += FRAME_HEADER_BYTES;
  out.set(body, at);
  at += body.length;
  writeFrameHeader(out, at, trailers.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, streamId);
  out.set(trailers, at + FRAME_HEADER_BYTES);
  return out;
}
