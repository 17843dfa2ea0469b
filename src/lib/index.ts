export { type Clock, ManualClock, systemClock, type Timer, type Timers } from "./clock.js";
export {
  ChannelClosedError,
  IpcChannel,
  type IpcPort,
  RemoteError,
  reportServing,
  runWorker,
  startPrimary,
  type WorkerHandle,
  type WorkerServing,
  WorkerSupervisor,
  workerSlot,
} from "./cluster/index.js";
export { DeadlineError, withDeadline } from "./deadline.js";
export { type DebounceOptions, Debouncer } from "./debounce.js";
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
  type GrpcServerLimits,
  Http2GrpcServer,
  type Http2GrpcServerOptions,
  type Http2ServiceImpl,
  type StreamContext,
} from "./grpc-server/index.js";
export {
  type ClientTlsFiles,
  channelCredentials,
  serverCredentials,
  type WatchedChannelCredentials,
} from "./grpc-tls.js";
export { ServerLimits } from "./h2/server-limits.js";
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
export { type CommandReply, execPerNode, type SlottedCommand } from "./redis-cluster-pipeline.js";
export { pingRedis, redisProblem } from "./redis-probe.js";
export { clusterSlots, keySlot } from "./redis-slot.js";
export { RedisSubscription, type RedisSubscriptionOptions } from "./redis-subscription.js";
export { serverLimitMetrics } from "./server-limit-metrics.js";
export {
  defaultTelemetryLimits,
  type MetricsSource,
  type Readiness,
  startTelemetryServer,
  type TelemetryLimits,
  type TelemetryServer,
} from "./telemetry.js";
export { timeoutSignal } from "./timeout-signal.js";
export {
  createTlsServer,
  loadTlsFiles,
  serverTlsOptions,
  TlsFileError,
  type TlsFiles,
  TlsFileWatch,
  type TlsMaterial,
} from "./tls.js";
export {
  type Attributes,
  type AttributeValue,
  checkTracingOptions,
  type HeaderCarrier,
  noTracing,
  type RequestSpan,
  startTracing,
  type Tracing,
  type TracingOptions,
} from "./tracing/index.js";
export { TurnSlices } from "./turn-slices.js";
export { toErrorData, type WorkerErrorData } from "./worker-entry.js";
export { runnableModule, WorkerPool, type WorkerPoolOptions, type WorkerTask, WorkerTaskError } from "./worker-pool.js";
