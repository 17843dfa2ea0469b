import { type ConfigProvider, LiveConfig, PrimaryConfigProvider, WorkerConfigBroadcast } from "../config/index.js";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import {
  createLogger,
  type IpcChannel,
  type LogLevel,
  reportServing,
  startPrimary,
  systemClock,
  WorkerPool,
  WorkerSupervisor,
  workerSlot,
} from "../lib/index.js";
import { RateLimitConfigError } from "./config-errors.js";
import { configDirProvider } from "./config-files.js";
import { MemoryCounterStore } from "./memory-store.js";
import { createRateLimitMetrics } from "./metrics.js";
import { PrimaryCounterStore, serveCounters } from "./primary-counters.js";
import { compileRules, type RuleBook } from "./rules.js";
import type { RateLimitServer, RateLimitServerOptions } from "./server.js";
import { startRateLimitServer } from "./server.js";

/** The primary of `gantry ratelimit --workers N`: what the CLI stops and feeds. */
export interface RateLimitWorkers {
  readonly grpcPort: number;
  readonly metricsPort: number;
  follow(provider: ConfigProvider<readonly RateLimitConfig[] | RuleBook>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `gantry ratelimit --workers N`, the primary: it reads and compiles the config once and hands the
 * same rule book to every worker (see src/config/workers.ts for what "atomic across workers" means),
 * keeps the in-memory counters for all of them (exact counts), and serves the one metrics port.
 * Workers run `startRateLimitWorker`; with Redis each worker has its own connection, coalescer and
 * over-limit cache (Redis's atomic INCRBY keeps counts exact; the cache only ever answers OVER_LIMIT).
 */
export async function startRateLimitWorkers(
  options: RateLimitServerOptions & { workers: number },
): Promise<RateLimitWorkers> {
  const logger = options.logger ?? createLogger({ service: "ratelimit" });
  const { logger: _logger, registry: _registry, clock: _clock, store: _store, configs: _configs, ...plain } = options;
  if (options.store || options.configs || options.clock) {
    throw new Error("rate-limit workers: a store, configs or a clock cannot be handed to worker processes");
  }
  const workerOptions: RateLimitWorkerOptions = { ...plain, logLevel: logger.level as LogLevel };
  const metrics = createRateLimitMetrics(options.registry);
  const keyFormat = options.redisKeyFormat ?? "envoyproxy";
  const counters = options.redisUrl === undefined ? new MemoryCounterStore() : undefined;
  const broadcast = new WorkerConfigBroadcast<RuleBook>();
  const live = new LiveConfig<readonly RateLimitConfig[] | RuleBook, RuleBook>({
    compile: async (configs, _serving, version) => {
      const rules = "domains" in configs ? configs : compileRules(configs, keyFormat);
      await broadcast.reload(version, rules);
      return rules;
    },
    install: () => {},
    onLoaded: (snapshot, rules, source) => {
      metrics.configLoads.inc({ result: "success" });
      logger.info(
        { source, version: snapshot.version, domains: [...rules.domains.keys()], workers: options.workers },
        "rate-limit config loaded",
      );
    },
    onFailed: (err, source) => {
      metrics.configLoads.inc({ result: "error" });
      const outcome = live.serving
        ? "rate-limit config rejected; keeping the last good one"
        : "rate-limit config rejected; serving without a config until it is fixed";
      if (err instanceof RateLimitConfigError || err.name === RateLimitConfigError.name) {
        const { source: file, line, path: field, problem } = err as RateLimitConfigError;
        logger.error({ file, line, field, problem }, outcome);
      } else {
        logger.error({ source, problem: err.message }, outcome);
      }
    },
  });
  const pool = new WorkerPool();
  const supervisor = new WorkerSupervisor({
    workers: options.workers,
    exec: new URL("./worker-main.js", import.meta.url),
    workerOptions,
    logger,
    registry: metrics.registry,
    onFork: (worker) => {
      broadcast.attach(worker.channel);
      if (counters) serveCounters(worker.channel, counters);
    },
    onExit: (worker) => broadcast.detach(worker.channel),
  });
  // The workers start (load their modules) while the primary reads the config; they take it when it is read.
  const initial =
    options.configDir === undefined
      ? Promise.resolve()
      : live.follow(
          configDirProvider(options.configDir, {
            pool,
            keyFormat,
            limits: options.configLimits,
            quietMs: options.reloadDebounceMs,
            startWithoutConfig: true,
          }),
        );
  broadcast.holdUntil(initial);
  const { grpcPort, telemetry } = await startPrimary({
    supervisor,
    initial,
    portRequest: "ratelimit.port",
    telemetry: {
      host: options.host ?? "0.0.0.0",
      port: options.metricsPort ?? 9093,
      tls: options.metricsTls,
      contentType: metrics.registry.contentType,
      logger,
      timers: systemClock,
    },
    teardown: async () => {
      await live.stop();
      await pool.close();
    },
  });
  logger.info({ grpcPort, metricsPort: telemetry.port, workers: options.workers }, "rate-limit workers serving");
  return {
    grpcPort,
    metricsPort: telemetry.port,
    follow: (provider) => live.follow(provider),
    async stop() {
      await live.stop();
      await pool.close();
      await supervisor.stop();
      await telemetry.close();
      await counters?.close();
    },
  };
}

const primaryCountersTimeoutMs = 1_000;

/** What a worker process starts with: the primary's options that are plain data, and the log level. */
export type RateLimitWorkerOptions = Omit<
  RateLimitServerOptions,
  "logger" | "registry" | "clock" | "store" | "configs" | "configProvider" | "telemetry"
> & { logLevel: LogLevel };

/** One worker of `gantry ratelimit --workers N`: config and (without Redis) counters come from the primary. */
export async function startRateLimitWorker(
  options: RateLimitWorkerOptions,
  channel: IpcChannel,
): Promise<RateLimitServer> {
  const { configDir: _dir, logLevel, ...rest } = options;
  const logger = createLogger({ service: "ratelimit", level: logLevel }).child({ worker: workerSlot() });
  const server = await startRateLimitServer({
    ...rest,
    logger,
    telemetry: false,
    configProvider: new PrimaryConfigProvider<RuleBook>(channel),
    // Counters in the primary are one IPC round trip away, which a busy machine can stretch past
    // Redis's 50 ms default: they get a second unless the flag asks for longer.
    ...(options.redisUrl === undefined
      ? {
          store: new PrimaryCounterStore(channel),
          redisTimeoutMs: Math.max(options.redisTimeoutMs ?? 0, primaryCountersTimeoutMs),
        }
      : {}),
  });
  channel.handle("ratelimit.port", () => server.grpcPort);
  await reportServing(channel, { registry: server.registry, readiness: server.readiness, stop: server.stop });
  return server;
}
