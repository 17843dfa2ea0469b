export { type Clock, ManualClock, systemClock, type Timer, type Timers } from "./clock.js";
export {
  type BidiCall,
  type CallOptions,
  createClient,
  GrpcError,
  GrpcServer,
  type GrpcServerOptions,
  GrpcStatus,
  type MethodHandler,
  type ServerStreamCall,
  type ServiceClient,
  type ServiceImpl,
  type UnaryCall,
} from "./grpc.js";
export {
  type CallContext,
  EncodedMessage,
  encodeOnce,
  type GrpcRouter,
  Http2GrpcServer,
  type Http2GrpcServerOptions,
  type Http2ServiceImpl,
  type StreamContext,
} from "./grpc-server/index.js";
export { HealthService, ServingStatus } from "./health.js";
export { createLogger, type Logger, type LoggerConfig, type LogLevel, logLevels } from "./logger.js";
export { Counter, createRegistry, Gauge, Histogram, Registry, requestLatencyBuckets } from "./metrics.js";
export {
  createRedis,
  parseRedisUrl,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisTarget,
  RedisUrlError,
  redactUrl,
  waitForRedis,
} from "./redis.js";
export { type Readiness, startTelemetryServer, type TelemetryServer } from "./telemetry.js";
export { timeoutSignal } from "./timeout-signal.js";
export { toErrorData, type WorkerErrorData } from "./worker-entry.js";
export { runnableModule, WorkerPool, type WorkerPoolOptions, type WorkerTask, WorkerTaskError } from "./worker-pool.js";
