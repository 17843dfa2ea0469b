import type { GrpcStatus } from "../grpc.js";
import { encodeHeaders } from "../h2/index.js";

// How a call ends on the wire (gRPC over HTTP/2, PROTOCOL-HTTP2.md): response headers, the status in
// trailers or in a trailers-only response, and the percent-encoded grpc-message. Blocks that never change
// are encoded once.

export const grpcContentType = "application/grpc";
/** The request encodings this server reads, as sent in grpc-accept-encoding. */
export const acceptEncoding = "identity,gzip,deflate";

/** The response headers of every call that answers. */
export const okHeaders = encodeHeaders([
  [":status", "200"],
  ["content-type", grpcContentType],
]);
/** The trailers of every call that ends with OK after a message. */
export const okTrailers = encodeHeaders([["grpc-status", "0"]]);

/** A call that could not be answered normally; `code` and `message` go to the caller. */
export class CallFailure extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/** Percent-encodes a status message as gRPC requires: printable ASCII except `%` stays, all else is UTF-8 %XX. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function statusFields(code: GrpcStatus, message: string): [string, string][] {
  const fields: [string, string][] = [["grpc-status", String(code)]];
  if (message) fields.push(["grpc-message", encodeGrpcMessage(message)]);
  return fields;
}

/** Trailers that end a call which has sent its response headers. */
export function statusTrailers(code: GrpcStatus, message: string): Buffer {
  return encodeHeaders(statusFields(code, message));
}

/** A trailers-only response: the status travels in the only HEADERS frame. */
export function trailersOnly(
  code: GrpcStatus,
  message: string,
  extra: ReadonlyArray<readonly [string, string]> = [],
): Buffer {
  return encodeHeaders([
    [":status", "200"],
    ["content-type", grpcContentType],
    ...statusFields(code, message),
    ...extra,
  ]);
}

/** The answers to what is not a gRPC call: the request's method, or its content type, is wrong. */
export const notGrpc = {
  methodNotAllowed: encodeHeaders([
    [":status", "405"],
    ["allow", "POST"],
    ["content-type", "text/plain"],
  ]),
  unsupportedMediaType: encodeHeaders([
    [":status", "415"],
    ["content-type", "text/plain"],
  ]),
  body: Buffer.from("this is a gRPC server: use POST with content-type application/grpc\n"),
};
