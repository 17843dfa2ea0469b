import { RateLimitResponseSchema, RateLimitService } from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import {
  type Clock,
  createLogger,
  createRedis,
  EncodedMessage,
  GrpcError,
  GrpcStatus,
  HealthService,
  Http2GrpcServer,
  type Logger,
  type Readiness,
  type Registry,
  ServingStatus,
  startTelemetryServer,
  systemClock,
  type TelemetryServer,
} from "../lib/index.js";
import type { CounterStore, FixedWindowKeyFormat } from "./algorithms.js";
import { HitCoalescer } from "./coalescer.js";
import { RateLimitConfigError } from "./config-errors.js";
import { type ConfigWatcher, checkConfigs, loadConfigDir, watchConfigDir } from "./config-files.js";
import { MemoryCounterStore } from "./memory-store.js";
import { createRateLimitMetrics } from "./metrics.js";
import { OverLimitCache } from "./over-limit-cache.js";
import { RedisCounterStore } from "./redis-store.js";
import { encodeRateLimitAnswer, type RateLimitAnswer } from "./response-encoding.js";
import { compileRules } from "./rules.js";
import { defaultResponseHeaderNames, RateLimiter, type RedisFailureMode, type ResponseHeaderNames } from "./service.js";

export interface RateLimitServerOptions {
  /** Address for the gRPC and metrics ports. Default 0.0.0.0. */
  host?: string;
  /** Default 8081; 0 picks a free port. */
  grpcPort?: number;
  /** Default 9093; 0 picks a free port. */
  metricsPort?: number;
  /** Calls in flight on one client connection, at most (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 1000. */
  maxConcurrentStreams?: number;
  /** envoyproxy/ratelimit YAML files, one domain each; watched and reloaded on change. */
  configDir?: string;
  /** Configs from another source (xDS, `gantry up`); replaced later with `setConfigs`. */
  configs?: readonly RateLimitConfig[];
  /** Counters in Redis; without it they are kept in memory. */
  redisUrl?: string;
  /** Bound on each Redis round trip. Default 50 ms. */
  redisTimeoutMs?: number;
  /** Prepended to every Redis key. Default none. */
  redisKeyPrefix?: string;
  /**
   * How fixed-window keys are spelled. Default `envoyproxy` (its own keys, so a fleet running both
   * shares counters); `gantry` for the hash-tagged keys of Gantry before this option.
   */
  redisKeyFormat?: FixedWindowKeyFormat;
  /** Default `error`: answer UNAVAILABLE, so Envoy's `failure_mode_deny` decides. */
  redisFailureMode?: RedisFailureMode;
  /** Add RateLimit-* response headers (true for the default names). */
  responseHeaders?: boolean | ResponseHeaderNames;
  globalShadowMode?: boolean;
  /** Answer keys known to be over limit from memory until their window ends. Default true. */
  localCache?: boolean;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  /** Quiet time before re-reading changed config files. Default 100 ms. */
  reloadDebounceMs?: number;
  /** A counter store to use instead of Redis or memory (for tests and embedding). */
  store?: CounterStore;
}

export interface RateLimitServer {
  readonly grpcPort: number;
  readonly metricsPort: number;
  /**
   * Replaces the whole config at once. Throws a RateLimitConfigError (and keeps the current config)
   * if any of them is bad.
   */
  setConfigs(configs: readonly RateLimitConfig[]): void;
  /** The domains currently loaded. */
  domains(): string[];
  stop(): Promise<void>;
}

/** Starts the rate-limit service: gRPC (RLS + health), metrics, config, counters. */
export async function startRateLimitServer(options: RateLimitServerOptions = {}): Promise<RateLimitServer> {
  const logger = options.logger ?? createLogger({ service: "ratelimit" });
  const clock = options.clock ?? systemClock;
  const metrics = createRateLimitMetrics(options.registry);
  const host = options.host ?? "0.0.0.0";
  const redisTimeoutMs = options.redisTimeoutMs ?? 50;
  const redis =
    options.store === undefined && options.redisUrl !== undefined
      ? createRedis({
          url: options.redisUrl,
          commandTimeoutMs: redisTimeoutMs,
          connectionName: "gantry-ratelimit",
          logger,
          ...(options.redisKeyPrefix === undefined ? {} : { keyPrefix: options.redisKeyPrefix }),
        })
      : undefined;
  const store: CounterStore = options.store ?? (redis ? new RedisCounterStore(redis) : new MemoryCounterStore());
  const coalescer = new HitCoalescer({
    store,
    clock,
    timeoutMs: redisTimeoutMs,
    onError: (err) => {
      metrics.redisErrors.inc();
      logger.debug({ err: err instanceof Error ? err.message : String(err) }, "counter store failed");
    },
  });
  const headers = options.responseHeaders;
  const limiter = new RateLimiter({
    coalescer,
    clock,
    metrics,
    failureMode: options.redisFailureMode ?? "error",
    globalShadowMode: options.globalShadowMode ?? false,
    responseHeaders: headers === true ? defaultResponseHeaderNames : headers === false ? undefined : headers,
    overLimitCache: options.localCache === false ? undefined : new OverLimitCache(clock),
  });

  const keyFormat = options.redisKeyFormat ?? "envoyproxy";
  const setConfigs = (configs: readonly RateLimitConfig[]) => {
    checkConfigs(configs);
    limiter.setRules(compileRules(configs, keyFormat));
  };
  const domains = () => [...(limiter.rules?.domains.keys() ?? [])];
  /**
   * Reads the directory; a bad config is logged and counted, never thrown. At start that leaves the server
   * serving without a config (calls answered UNKNOWN) until the files are fixed, as envoyproxy/ratelimit does.
   */
  const loadDir = (dir: string, at: "start" | "change") => {
    try {
      setConfigs(loadConfigDir(dir));
      metrics.configLoads.inc({ result: "success" });
      logger.info(
        { configDir: dir, domains: domains() },
        `rate-limit config ${at === "start" ? "loaded" : "reloaded"}`,
      );
    } catch (err) {
      metrics.configLoads.inc({ result: "error" });
      if (!(err instanceof RateLimitConfigError)) throw err;
      logger.error(
        { file: err.source, line: err.line, field: err.path, problem: err.problem },
        limiter.rules
          ? "rate-limit config rejected; keeping the last good one"
          : "rate-limit config rejected; serving without a config until it is fixed",
      );
    }
  };
  let watcher: ConfigWatcher | undefined;
  const configDir = options.configDir;
  try {
    if (configDir !== undefined) {
      loadDir(configDir, "start");
      watcher = watchConfigDir(
        configDir,
        () => loadDir(configDir, "change"),
        (err) => logger.error({ configDir, err: err.message }, "watching the config directory failed"),
        options.reloadDebounceMs,
      );
    } else if (options.configs) {
      setConfigs(options.configs);
      metrics.configLoads.inc({ result: "success" });
    } else {
      // Fed later (xDS, `gantry up`): until then every domain is unknown, and answered OK.
      limiter.setRules(compileRules([], keyFormat));
    }
  } catch (err) {
    // Nothing may keep the process alive after a failed start (an open Redis connection would).
    watcher?.close();
    await store.close();
    throw err;
  }

  // The common outcome's series is looked up once, not per request.
  const answeredOk = metrics.requestDuration.labels("OK");
  const grpc = new Http2GrpcServer({
    logger,
    ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
  });
  const health = new HealthService();
  // envoyproxy/ratelimit answers for its service name too; load balancers and probes may ask for it.
  health.set("ratelimit", ServingStatus.SERVING);
  health.register(grpc);
  const failed = (started: number, err: unknown): never => {
    const code = err instanceof GrpcError ? GrpcStatus[err.code] : "INTERNAL";
    metrics.requestDuration.observe({ code }, (performance.now() - started) / 1000);
    throw err;
  };
  const answered = (started: number, answer: RateLimitAnswer) => {
    const encoded = new EncodedMessage(RateLimitResponseSchema, encodeRateLimitAnswer(answer));
    answeredOk.observe((performance.now() - started) / 1000);
    return encoded;
  };
  grpc.add(RateLimitService, {
    shouldRateLimit: (request) => {
      const started = performance.now();
      let result: ReturnType<typeof limiter.shouldRateLimit>;
      try {
        result = limiter.shouldRateLimit(request);
      } catch (err) {
        return failed(started, err);
      }
      if (!(result instanceof Promise)) return answered(started, result);
      return result.then(
        (response) => answered(started, response),
        (err: unknown) => failed(started, err),
      );
    },
  });
  let telemetry: TelemetryServer | undefined;
  let grpcPort: number;
  try {
    grpcPort = await grpc.listen(host, options.grpcPort ?? 8081);
    telemetry = await startTelemetryServer({
      registry: metrics.registry,
      host,
      port: options.metricsPort ?? 9093,
      logger,
      readiness: (): Readiness =>
        !redis || redis.status === "ready" ? { ready: true } : { ready: false, reason: `redis is ${redis.status}` },
    });
  } catch (err) {
    watcher?.close();
    await grpc.shutdown(0);
    await store.close();
    throw err;
  }
  logger.info(
    { grpcPort, metricsPort: telemetry.port, redis: options.redisUrl !== undefined },
    "rate-limit server listening",
  );
  const metricsServer = telemetry;
  return {
    grpcPort,
    metricsPort: metricsServer.port,
    setConfigs(configs) {
      try {
        setConfigs(configs);
      } catch (err) {
        metrics.configLoads.inc({ result: "error" });
        throw err;
      }
      metrics.configLoads.inc({ result: "success" });
    },
    domains,
    async stop() {
      health.drain();
      watcher?.close();
      await grpc.shutdown(2_000);
      await metricsServer.close();
      await store.close();
    },
  };
}
