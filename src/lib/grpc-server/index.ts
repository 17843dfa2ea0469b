// Gantry's gRPC server for the data-plane calls (ext_authz Check, RLS ShouldRateLimit, health) on its own
// HTTP/2 layer (../h2/): routing, calls, length-prefixed messages, status and deadlines, one file each.
export type { CallContext, StreamContext } from "./call.js";
export { parseGrpcTimeout } from "./deadlines.js";
export { EncodedMessage, encodeOnce } from "./messages.js";
export type { GrpcRouter, Http2MethodHandler, Http2ServiceImpl, ServiceOptions, UnaryAnswer } from "./router.js";
export { type GrpcServerLimits, Http2GrpcServer, type Http2GrpcServerOptions } from "./server.js";
export { encodeGrpcMessage } from "./status.js";
