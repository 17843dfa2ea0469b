import { dirname, resolve } from "node:path";
import {
  ApiProvider,
  type ConfigProvider,
  defaultFileLimits,
  LiveConfig,
  PrimaryConfigProvider,
  WorkerConfigBroadcast,
} from "../config/index.js";
import type { AuthConfig } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import {
  createLogger,
  createRegistry,
  type IpcChannel,
  type LogLevel,
  RemoteError,
  reportServing,
  startPrimary,
  systemClock,
  WorkerPool,
  WorkerSupervisor,
  workerSlot,
} from "../lib/index.js";
import { AuthConfigInvalid } from "./compile.js";
import { type AuthConfigSet, authConfigFileProvider } from "./config-set.js";
import { ExtAuthMetrics } from "./metrics.js";
import { type ExtAuthServer, type ExtAuthServerOptions, startExtAuthServer } from "./server.js";

/** The primary of `gantry extauth --workers N`: what the CLI stops and feeds. */
export interface ExtAuthWorkers {
  readonly grpcPort: number;
  readonly metricsPort: number;
  follow(provider: ConfigProvider<AuthConfigSet>): Promise<void>;
  stop(): Promise<void>;
}

/** What crosses to the workers: the configs (a file's `locate` stays in the primary). */
interface WorkerAuthConfigs {
  readonly configs: readonly AuthConfig[];
}

/**
 * A worker's refusal as the primary reports it: an AuthConfigInvalid is located in the config file
 * here (the file and its text are the primary's), as one process does.
 */
async function located(err: unknown, set: AuthConfigSet): Promise<unknown> {
  if (!(err instanceof RemoteError) || err.name !== "AuthConfigInvalid") return err;
  const { configId, field, problem, source } = err.fields;
  if (typeof configId !== "string" || typeof field !== "string" || typeof problem !== "string") return err;
  const where = typeof source === "string" ? source : await set.locate?.(configId, field);
  return new AuthConfigInvalid(configId, field, problem, where);
}

/**
 * `gantry extauth --workers N`, the primary: it reads the config file (or follows xDS) once and
 * hands the same configs to every worker, which builds its own evaluators and caches (API keys,
 * JWKS, JWT results, OPA); a reload is installed by all workers or none (src/config/workers.ts).
 * Each worker subscribes to API key revocations itself, so a revoked key stops working in every
 * worker within the same bound as in one process. The one metrics port answers for all workers.
 */
export async function startExtAuthWorkers(
  options: ExtAuthServerOptions & { workers: number },
): Promise<ExtAuthWorkers> {
  const logger = options.logger ?? createLogger({ service: "extauth" });
  const { logger: _logger, clock: _clock, configs: _configs, configProvider: _provider, ...plain } = options;
  if (options.clock || options.configProvider) {
    throw new Error("ext-auth workers: a clock or a config provider cannot be handed to worker processes");
  }
  const workerOptions: ExtAuthWorkerOptions = { ...plain, logLevel: logger.level as LogLevel };
  const registry = createRegistry("extauth");
  const metrics = new ExtAuthMetrics(registry);
  const broadcast = new WorkerConfigBroadcast<WorkerAuthConfigs>();
  const live = new LiveConfig<AuthConfigSet, AuthConfigSet>({
    compile: async (set, _serving, version) => {
      try {
        await broadcast.reload(version, { configs: set.configs });
      } catch (err) {
        throw await located(err, set);
      }
      return set;
    },
    install: () => {},
    onLoaded: (snapshot, set, source) => {
      metrics.reload("success", set.configs.length);
      logger.info(
        { source, version: snapshot.version, configs: set.configs.map((c) => c.id).sort(), workers: options.workers },
        "auth configs loaded",
      );
    },
    onFailed: (error, source) => {
      metrics.reload("failure");
      logger.error({ source, error: error.message }, "auth config load failed; keeping the last good configs");
    },
  });
  const pool = new WorkerPool();
  const supervisor = new WorkerSupervisor({
    workers: options.workers,
    exec: new URL("./worker-main.js", import.meta.url),
    workerOptions,
    logger,
    registry,
    onFork: (worker) => broadcast.attach(worker.channel),
    onExit: (worker) => broadcast.detach(worker.channel),
  });
  // The workers start (load their modules) while the primary reads the config; they take it when it is read.
  const initial = (async () => {
    if (options.configFile !== undefined) {
      const file = resolve(options.configFile);
      await live.follow(authConfigFileProvider(file, pool, options.configLimits ?? defaultFileLimits));
    } else if (options.configs !== undefined) {
      const pushed = new ApiProvider<AuthConfigSet>({ source: "setConfigs" });
      void live.follow(pushed);
      await pushed.push({ configs: options.configs });
    }
  })();
  broadcast.holdUntil(initial);
  const { grpcPort, telemetry } = await startPrimary({
    supervisor,
    initial,
    portRequest: "extauth.port",
    telemetry: {
      host: options.host ?? "0.0.0.0",
      port: options.metricsPort ?? 9092,
      tls: options.metricsTls,
      contentType: registry.contentType,
      logger,
      timers: systemClock,
    },
    teardown: async () => {
      await live.stop();
      await pool.close();
    },
  });
  logger.info({ grpcPort, metricsPort: telemetry.port, workers: options.workers }, "ext-auth workers serving");
  return {
    grpcPort,
    metricsPort: telemetry.port,
    follow: (provider) => live.follow(provider),
    async stop() {
      await live.stop();
      await pool.close();
      await supervisor.stop();
      await telemetry.close();
    },
  };
}

/** What a worker process starts with: the primary's options that are plain data, and the log level. */
export type ExtAuthWorkerOptions = Omit<
  ExtAuthServerOptions,
  "logger" | "clock" | "configs" | "configProvider" | "telemetry"
> & { logLevel: LogLevel };

/** One worker of `gantry extauth --workers N`: its configs come from the primary. */
export async function startExtAuthWorker(options: ExtAuthWorkerOptions, channel: IpcChannel): Promise<ExtAuthServer> {
  const { configFile, logLevel, ...rest } = options;
  const logger = createLogger({ service: "extauth", level: logLevel }).child({ worker: workerSlot() });
  const server = await startExtAuthServer({
    ...rest,
    logger,
    telemetry: false,
    ...(configFile === undefined ? {} : { configBaseDir: dirname(resolve(configFile)) }),
    configProvider: new PrimaryConfigProvider<AuthConfigSet>(channel),
  });
  channel.handle("extauth.port", () => server.grpcPort);
  await reportServing(channel, { registry: server.registry, readiness: server.readiness, stop: server.stop });
  return server;
}
