import { ApiProvider, type ConfigProvider, type FileLimits, LiveConfig } from "../config/index.js";
import {
  RateLimitResponse_Code,
  RateLimitResponseSchema,
  RateLimitService,
} from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import {
  createLogger,
  createRedis,
  EncodedMessage,
  GrpcError,
  type GrpcServerLimits,
  GrpcStatus,
  HealthService,
  Http2GrpcServer,
  type Logger,
  type Readiness,
  type Registry,
  type RequestSpan,
  redisProblem,
  ServingStatus,
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
import type { CounterStore, FixedWindowKeyFormat } from "./algorithms.js";
import { HitCoalescer } from "./coalescer.js";
import { RateLimitConfigError } from "./config-errors.js";
import { checkConfigs, configDirProvider } from "./config-files.js";
import { MemoryCounterStore } from "./memory-store.js";
import { createRateLimitMetrics } from "./metrics.js";
import { OverLimitCache } from "./over-limit-cache.js";
import { RedisCounterStore } from "./redis-store.js";
import { defaultRequestLimits, type RequestLimits } from "./request.js";
import { encodeRateLimitAnswer, type RateLimitAnswer } from "./response-encoding.js";
import { compileRules, type RuleBook } from "./rules.js";
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
  /** Serve the gRPC port over TLS (mTLS with a client CA); the files are checked before anything starts. */
  tls?: TlsFiles;
  /** Serve the metrics port over HTTPS with these files (mTLS with a client CA). */
  metricsTls?: TlsFiles;
  /** Bounds across all client connections of the gRPC port (see Http2GrpcServerOptions); defaults as there. */
  serverLimits?: GrpcServerLimits;
  /** Bounds on one ShouldRateLimit request: descriptors, entries per descriptor. */
  requestLimits?: Partial<RequestLimits>;
  /** envoyproxy/ratelimit YAML files, one domain each; watched and reloaded on change. */
  configDir?: string;
  /** Bounds on each file of `configDir`. Default defaultFileLimits (8 MiB, 10,000 documents). */
  configLimits?: FileLimits;
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
  /** Time for windows, the over-limit cache and the counter-store timeout. Default the system clock. */
  clock?: Timers;
  logger?: Logger;
  registry?: Registry;
  /** Quiet time before re-reading changed config files. Default 100 ms. */
  reloadDebounceMs?: number;
  /** A counter store to use instead of Redis or memory (for tests and embedding). */
  store?: CounterStore;
  /** Configs from a provider followed before the port listens (a worker of `--workers`: its primary's). */
  configProvider?: ConfigProvider<readonly RateLimitConfig[] | RuleBook>;
  /**
   * Serve `/metrics`, `/healthz` and `/readyz` on `metricsPort`, and log and count config loads. Default
   * true; a worker of `--workers` leaves both to its primary, which answers for all workers.
   */
  telemetry?: boolean;
  /** Export spans of sampled calls over OTLP ([observability](../../docs/observability.md)). Default off. */
  tracing?: TracingOptions;
}

export interface RateLimitServer {
  readonly grpcPort: number;
  /** 0 without `telemetry`. */
  readonly metricsPort: number;
  readonly registry: Registry;
  /** What `/readyz` reports: Redis answers; the config version served is in its detail. */
  readiness(): Promise<Readiness>;
  /**
   * Replaces the whole config at once, before any call that arrives after it. Throws a
   * RateLimitConfigError (and keeps the current config) if any of them is bad.
   */
  setConfigs(configs: readonly RateLimitConfig[]): void;
  /** Serves the configs a provider yields (xDS) from now on; stopped with the server. */
  follow(provider: ConfigProvider<readonly RateLimitConfig[] | RuleBook>): Promise<void>;
  /** The domains currently loaded. */
  domains(): string[];
  stop(): Promise<void>;
}

/** Starts the rate-limit service: gRPC (RLS + health), metrics, config, counters. */
export async function startRateLimitServer(options: RateLimitServerOptions = {}): Promise<RateLimitServer> {
  const logger = options.logger ?? createLogger({ service: "ratelimit" });
  const clock = options.clock ?? systemClock;
  const tls = options.tls === undefined ? undefined : new TlsFileWatch(options.tls, { logger, timers: clock });
  const metrics = createRateLimitMetrics(options.registry);
  const host = options.host ?? "0.0.0.0";
  // Built first: bad limits and tracing options are refused before anything starts.
  const grpc = new Http2GrpcServer({
    logger,
    registry: metrics.registry,
    ...options.serverLimits,
    ...(tls ? { tls } : {}),
    ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
  });
  const tracing = await startTracing(options.tracing);
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
    requestLimits: { ...defaultRequestLimits, ...options.requestLimits },
  });

  const keyFormat = options.redisKeyFormat ?? "envoyproxy";
  const reports = options.telemetry ?? true;
  // Config files are read, parsed and compiled in a worker thread (started on first use); configs
  // handed over in-process (xDS, `setConfigs`) arrive parsed and are compiled here.
  const workers = new WorkerPool();
  const live = new LiveConfig<readonly RateLimitConfig[] | RuleBook, RuleBook>({
    compile: (configs) => ("domains" in configs ? configs : compileRules(configs, keyFormat)),
    install: (rules) => limiter.setRules(rules),
    onLoaded: (snapshot, rules, source) => {
      if (!reports) {
        logger.debug({ version: snapshot.version }, "rate-limit config installed");
        return;
      }
      metrics.configLoads.inc({ result: "success" });
      logger.info(
        { source, version: snapshot.version, domains: [...rules.domains.keys()] },
        "rate-limit config loaded",
      );
    },
    // Every failure counts: unreadable files, YAML syntax, unknown fields, bad values, clashing domains.
    onFailed: (err, source) => {
      if (reports) metrics.configLoads.inc({ result: "error" });
      const outcome = limiter.rules
        ? "rate-limit config rejected; keeping the last good one"
        : "rate-limit config rejected; serving without a config until it is fixed";
      // One read in a worker thread arrives as a WorkerTaskError carrying the same fields.
      if (err instanceof RateLimitConfigError || err.name === RateLimitConfigError.name) {
        const { source: file, line, path: field, problem } = err as RateLimitConfigError;
        logger.error({ file, line, field, problem }, outcome);
      } else {
        logger.error({ source, problem: err.message }, outcome);
      }
    },
  });
  /** Configs handed over in-process: `setConfigs`. */
  const pushed = new ApiProvider<readonly RateLimitConfig[]>({ source: "setConfigs", check: checkConfigs });
  // An API provider starts at once and cannot fail.
  void live.follow(pushed);
  try {
    if (options.configDir !== undefined) {
      // A bad config at start is logged and counted, and the server serves without one (calls are
      // answered UNKNOWN) until the files are fixed, as envoyproxy/ratelimit does.
      await live.follow(
        configDirProvider(options.configDir, {
          pool: workers,
          keyFormat,
          limits: options.configLimits,
          quietMs: options.reloadDebounceMs,
          startWithoutConfig: true,
        }),
      );
    } else if (options.configProvider) {
      await live.follow(options.configProvider);
    } else if (options.configs) {
      await pushed.push(options.configs);
    } else {
      // Fed later (xDS, `gantry up`): until then every domain is unknown, and answered OK.
      limiter.setRules(compileRules([], keyFormat));
    }
  } catch (err) {
    tls?.stop();
    await live.stop();
    await workers.close();
    await store.close();
    await tracing.shutdown();
    throw err;
  }

  // The common outcome's series is looked up once, not per request.
  const answeredOk = metrics.requestDuration.labels("OK");
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
    shouldRateLimit: (request, call) => {
      const started = performance.now();
      // Envoy's span for the rate-limit call, from the gRPC metadata, is the parent.
      const span = tracing.startServerSpan("ratelimit ShouldRateLimit", [call.headers]);
      let result: ReturnType<typeof limiter.shouldRateLimit>;
      try {
        result = limiter.shouldRateLimit(request, span);
      } catch (err) {
        if (span) endCallSpan(span, undefined, err);
        return failed(started, err);
      }
      if (!(result instanceof Promise)) {
        if (span) endCallSpan(span, result, undefined);
        return answered(started, result);
      }
      return result.then(
        (response) => {
          if (span) endCallSpan(span, response, undefined);
          return answered(started, response);
        },
        (err: unknown) => {
          if (span) endCallSpan(span, undefined, err);
          return failed(started, err);
        },
      );
    },
  });
  // A PING within the Redis deadline, so a hung Redis (socket open, no answer) is seen too.
  const readiness = async (): Promise<Readiness> => {
    const version = [`config: ${live.version ?? "none"}`];
    if (!redis) return { ready: true, detail: version };
    const problem = await redisProblem(redis, redisTimeoutMs, clock);
    return problem === undefined
      ? { ready: true, detail: ["redis: ok", ...version] }
      : { ready: false, reason: problem, detail: [`redis: ${problem}`, ...version] };
  };
  let telemetry: TelemetryServer | undefined;
  let grpcPort: number;
  try {
    grpcPort = await grpc.listen(host, options.grpcPort ?? 8081);
    if (reports) {
      telemetry = await startTelemetryServer({
        registry: metrics.registry,
        host,
        port: options.metricsPort ?? 9093,
        ...(options.metricsTls === undefined
          ? {}
          : { tls: new TlsFileWatch(options.metricsTls, { logger, timers: clock }) }),
        logger,
        readiness,
      });
    }
  } catch (err) {
    await live.stop();
    await workers.close();
    await grpc.shutdown(0);
    await store.close();
    await tracing.shutdown();
    throw err;
  }
  logger.info(
    { grpcPort, metricsPort: telemetry?.port, redis: options.redisUrl !== undefined },
    "rate-limit server listening",
  );
  const metricsServer = telemetry;
  return {
    grpcPort,
    metricsPort: metricsServer?.port ?? 0,
    registry: metrics.registry,
    readiness,
    setConfigs(configs) {
      // A refusal after the check was reported by the live config; a bad config throws here.
      pushed.push(configs).catch(() => undefined);
    },
    follow: (provider) => live.follow(provider),
    domains: () => [...(limiter.rules?.domains.keys() ?? [])],
    async stop() {
      health.drain();
      await live.stop();
      await workers.close();
      await grpc.shutdown(2_000);
      await metricsServer?.close();
      await store.close();
      await tracing.shutdown();
    },
  };
}

function endCallSpan(span: RequestSpan, answer: RateLimitAnswer | undefined, err: unknown): void {
  if (answer)
    span.setAttribute(
      "gantry.ratelimit.overall_code",
      RateLimitResponse_Code[answer.overallCode] ?? String(answer.overallCode),
    );
  else span.fail(err instanceof Error ? err.message : String(err));
  span.end();
}
