// Gantry's HTTP/2 server side for the data-plane gRPC server: connection, framing and HPACK.
export {
  H2Connection,
  type H2ConnectionOptions,
  H2Stream,
  type RequestHeaders,
  type StreamListener,
} from "./connection.js";
export { ErrorCode } from "./frames.js";
export { encodeHeaders, HpackDecoder, HpackError } from "./hpack.js";
