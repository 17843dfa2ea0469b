// gRPC on grpc-js, one file per job: the service definitions and codecs (grpc-service.ts), the server
// (grpc-js-server.ts) and the client (grpc-client.ts). The data-plane server on Gantry's own HTTP/2
// is grpc-server/.
export { type CallOptions, type ClientOptions, createClient, type ServiceClient } from "./grpc-client.js";
export { defaultServerOptions, GrpcServer, type GrpcServerOptions } from "./grpc-js-server.js";
export {
  type BidiCall,
  GrpcError,
  GrpcStatus,
  type MethodHandler,
  type ServerStreamCall,
  type ServiceImpl,
  serviceDefinition,
  toServiceError,
  type UnaryCall,
  writeEncoded,
} from "./grpc-service.js";
