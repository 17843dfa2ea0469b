// Gantry's HTTP/2 server side for the data-plane gRPC server: connection, framing and HPACK.
export { H2Connection, type StreamListener } from "./connection.js";
export { ErrorCode } from "./frames.js";
export { encodeHeaders, HpackDecoder, HpackError } from "./hpack.js";
export { RequestTimeouts } from "./request-timeouts.js";
export { defaultServerLimits, type ServerBound, ServerLimits, type ServerLimitsOptions } from "./server-limits.js";
export type { H2ConnectionOptions } from "./settings.js";
export { H2Stream, type RequestHeaders } from "./streams.js";
