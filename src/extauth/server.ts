import { dirname, resolve } from "node:path";
import { type ConfigProvider, defaultFileLimits, type FileLimits } from "../config/index.js";
import { Authorization } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { AuthConfig } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import {
  createLogger,
  createRedis,
  createRegistry,
  type GrpcServerLimits,
  HealthService,
  Http2GrpcServer,
  type Logger,
  type Readiness,
  type RedisClient,
  type Registry,
  redactUrl,
  redisProblem,
  startTelemetryServer,
  startTracing,
  systemClock,
  type TelemetryServer,
  type Timers,
  type TlsFiles,
  TlsFileWatch,
  type TracingOptions,
  WorkerPool,
} from "../lib/index.js";
import { ApiKeyDirectory } from "./apikeys/index.js";
import { type AuthConfigSet, authConfigFileProvider } from "./config-set.js";
import { ExtAuthMetrics } from "./metrics.js";
import { ExtAuthService } from "./service.js";

export interface ExtAuthServerOptions {
  /** Address to listen on. Default 0.0.0.0. */
  host?: string;
  /** gRPC port for Check (0 picks a free one). Default 8083. */
  grpcPort?: number;
  /** Port for /metrics, /healthz, /readyz (0 picks a free one). Default 9092. */
  metricsPort?: number;
  /** Calls in flight on one client connection, at most (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 1000. */
  maxConcurrentStreams?: number;
  /** Serve the gRPC port over TLS (mTLS with a client CA); the files are checked before anything starts. */
  tls?: TlsFiles;
  /** Serve the metrics port over HTTPS with these files (mTLS with a client CA). */
  metricsTls?: TlsFiles;
  /** Bounds across all client connections of the gRPC port (see Http2GrpcServerOptions); defaults as there. */
  serverLimits?: GrpcServerLimits;
  /** Largest CheckRequest accepted; a larger one is answered RESOURCE_EXHAUSTED. Default 4 MiB. */
  maxRequestBytes?: number;
  /** A YAML file of auth configs, watched and reloaded on change. */
  configFile?: string;
  /** Bounds on `configFile`. Default defaultFileLimits (8 MiB, 10,000 documents). */
  configLimits?: FileLimits;
  /** Auth configs to start with when there is no file (e.g. `gantry up`, tests). */
  configs?: readonly AuthConfig[];
  /** The config for requests that name none in context_extensions.config_id. */
  defaultConfigId?: string;
  /** The ext-auth Redis (API keys, HMAC replay protection, sessions). */
  redisUrl?: string;
  /** Bound on each Redis command on the request path, and on the readiness PING. Default 100 ms. */
  redisCommandTimeoutMs?: number;
  /**
   * While API key revocations are not being received from Redis, no key verdict is answered from
   * memory for longer than this. Default 1,000 ms.
   */
  apiKeyUnsubscribedTtlMs?: number;
  /** Bound on one check, backend calls included. Default 1,000 ms. */
  checkTimeoutMs?: number;
  logger?: Logger;
  /** Export spans of sampled checks over OTLP ([observability](../../docs/observability.md)). Default off. */
  tracing?: TracingOptions;
  /** Default the system clock. */
  clock?: Timers;
  /** Where paths in configs are relative to, when there is no `configFile`. Default the working directory. */
  configBaseDir?: string;
  /** Configs from a provider followed before the port listens (a worker of `--workers`: its primary's). */
  configProvider?: ConfigProvider<AuthConfigSet>;
  /**
   * Serve `/metrics`, `/healthz` and `/readyz` on `metricsPort`, and log and count config loads. Default
   * true; a worker of `--workers` leaves both to its primary, which answers for all workers.
   */
  telemetry?: boolean;
}

export interface ExtAuthServer {
  readonly grpcPort: number;
  /** 0 without `telemetry`. */
  readonly metricsPort: number;
  readonly registry: Registry;
  /** What `/readyz` reports: a config is loaded, Redis answers, revocations are subscribed. */
  readiness(): Promise<Readiness>;
  /** Replaces every auth config at once (another source than a file: `gantry up`, tests). */
  setConfigs(configs: readonly AuthConfig[]): Promise<void>;
  /** Serves the configs a provider yields (xDS) from now on; stopped with the server. */
  follow(provider: ConfigProvider<AuthConfigSet>): Promise<void>;
  /** The configs being served, by id. */
  readonly configIds: string[];
  stop(): Promise<void>;
}

/** Starts the ext_authz server: Check and health over gRPC, metrics over HTTP, config from a file or a caller. */
export async function startExtAuthServer(options: ExtAuthServerOptions = {}): Promise<ExtAuthServer> {
  if (options.configFile !== undefined && options.configs !== undefined) {
    throw new Error("ext-auth server: give a config file or configs, not both");
  }
  const logger = options.logger ?? createLogger({ service: "extauth" });
  const clock = options.clock ?? systemClock;
  const tls = options.tls === undefined ? undefined : new TlsFileWatch(options.tls, { logger, timers: clock });
  const registry = createRegistry("extauth");
  const metrics = new ExtAuthMetrics(registry);
  const configFile = options.configFile === undefined ? undefined : resolve(options.configFile);
  // Built first: bad limits and tracing options are refused before anything starts.
  const grpc = new Http2GrpcServer({
    logger,
    registry,
    ...options.serverLimits,
    ...(tls ? { tls } : {}),
    ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
    ...(options.maxRequestBytes === undefined ? {} : { maxReceiveMessageBytes: options.maxRequestBytes }),
  });
  const tracing = await startTracing(options.tracing);
  let redis: RedisClient | undefined;
  let apiKeys: ApiKeyDirectory | undefined;
  const redisTimeoutMs = options.redisCommandTimeoutMs ?? 100;
  const unsubscribedTtlMs = options.apiKeyUnsubscribedTtlMs ?? 1_000;
  if (options.redisUrl) {
    redis = createRedis({
      url: options.redisUrl,
      commandTimeoutMs: redisTimeoutMs,
      connectionName: "gantry-extauth",
      logger,
    });
    metrics.apiKeyRevocations(false);
    apiKeys = new ApiKeyDirectory({
      redis,
      // Its SUBSCRIBE gets a longer bound than the request path: it is off the request path.
      subscriber: createRedis({
        url: options.redisUrl,
        commandTimeoutMs: Math.max(redisTimeoutMs, 1_000),
        connectionName: "gantry-extauth-revocations",
        logger,
      }),
      clock,
      logger,
      unsubscribedTtlMs,
      onSubscription: (subscribed) => metrics.apiKeyRevocations(subscribed),
    });
    logger.info({ redis: redactUrl(options.redisUrl) }, "using the ext-auth Redis");
  }
  const service = new ExtAuthService({
    tracing,
    deps: {
      clock,
      logger,
      redis,
      baseDir: configFile ? dirname(configFile) : (options.configBaseDir ?? process.cwd()),
      ...(apiKeys ? { apiKeys } : {}),
    },
    metrics,
    defaultConfigId: options.defaultConfigId,
    checkTimeoutMs: options.checkTimeoutMs ?? 1_000,
    reportLoads: options.telemetry ?? true,
  });

  // The config file is read and parsed in a worker thread (started on first use).
  const workers = new WorkerPool();
  const cleanup = async () => {
    tls?.stop();
    await service.close();
    await workers.close();
    await apiKeys?.close();
    redis?.disconnect();
    await tracing.shutdown();
  };
  try {
    if (configFile) {
      await service.follow(authConfigFileProvider(configFile, workers, options.configLimits ?? defaultFileLimits));
    } else if (options.configProvider) {
      await service.follow(options.configProvider);
    } else {
      await service.replace(options.configs ?? []);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const health = new HealthService();
  health.register(grpc);
  // Envoy can send header values and a body that are not UTF-8 (when its sanitizer is off); such a
  // request still gets a decision, never a gRPC error.
  grpc.add(
    Authorization,
    { check: (request, call) => service.check(request, call.headers) },
    { acceptInvalidUtf8: true },
  );
  const readiness = async (): Promise<Readiness> => {
    if (!service.loaded) return { ready: false, reason: "no auth config loaded" };
    const version = `config: ${service.version}`;
    if (!redis) return { ready: true, detail: [version] };
    // A PING within the Redis deadline, so a hung Redis (socket open, no answer) is seen too.
    const problem = await redisProblem(redis, redisTimeoutMs, clock);
    const subscribed = apiKeys?.revocationsSubscribed === true;
    const detail = [
      `redis: ${problem ?? "ok"}`,
      `apikey revocations: ${subscribed ? "subscribed" : `not subscribed (retrying; key verdicts cached ≤ ${unsubscribedTtlMs} ms)`}`,
      version,
    ];
    if (problem !== undefined) return { ready: false, reason: problem, detail };
    if (!subscribed) return { ready: false, reason: "API key revocations are not subscribed yet", detail };
    return { ready: true, detail };
  };
  let grpcPort: number;
  let telemetry: TelemetryServer | undefined;
  try {
    grpcPort = await grpc.listen(options.host ?? "0.0.0.0", options.grpcPort ?? 8083);
    if (options.telemetry ?? true) {
      telemetry = await startTelemetryServer({
        registry,
        port: options.metricsPort ?? 9092,
        ...(options.metricsTls === undefined
          ? {}
          : { tls: new TlsFileWatch(options.metricsTls, { logger, timers: clock }) }),
        ...(options.host === undefined ? {} : { host: options.host }),
        logger,
        readiness,
      });
    }
  } catch (err) {
    await grpc.shutdown(0);
    await cleanup();
    throw err;
  }
  logger.info({ grpcPort, metricsPort: telemetry?.port, configs: service.configIds }, "ext-auth server listening");

  return {
    grpcPort,
    metricsPort: telemetry?.port ?? 0,
    registry,
    readiness,
    setConfigs: (configs) => service.replace(configs),
    follow: (provider) => service.follow(provider),
    get configIds() {
      return service.configIds;
    },
    stop: async () => {
      health.drain();
      await grpc.shutdown(2_000);
      await telemetry?.close();
      await cleanup();
    },
  };
}
