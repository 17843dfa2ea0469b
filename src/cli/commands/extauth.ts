import { type Command, Option } from "commander";
import { type ExtAuthServerOptions, startExtAuthServer, startExtAuthWorkers } from "../../extauth/index.js";
import { followAuthConfigs } from "../../feeds/index.js";
import { createLogger, type LogLevel } from "../../lib/index.js";
import {
  checkBufferedBytes,
  configLimitOptions,
  configLimits,
  defaultNodeId,
  grpcMaxStreamsOption,
  hostOption,
  logLevelOption,
  parseBytes,
  parsePositiveInt,
  portOption,
  redisUrlOption,
  type ServerLimitFlags,
  serverLimitOptions,
  type TracingFlags,
  tlsFilesFromFlags,
  tlsOptions,
  tracingFromFlags,
  tracingOptions,
  workersOption,
  type XdsFeedFlags,
  xdsClientTlsFromFlags,
  xdsFeedOptions,
} from "../options.js";
import { stopAllOnSignal } from "../signals.js";

interface ExtAuthFlags extends XdsFeedFlags, ServerLimitFlags, TracingFlags {
  host: string;
  grpcPort: number;
  grpcMaxConcurrentStreams: number;
  metricsPort: number;
  config?: string;
  configMaxFileBytes: number;
  configMaxDocuments: number;
  defaultConfig?: string;
  redisUrl?: string;
  redisTimeoutMs: number;
  apikeyUnsubscribedTtlMs: number;
  checkTimeoutMs: number;
  maxRequestBytes: number;
  logLevel: LogLevel;
  workers: number;
}

export function registerExtAuth(program: Command): void {
  const command = program
    .command("extauth")
    .description("run the ext_authz server (envoy.service.auth.v3.Authorization/Check)")
    .addOption(hostOption())
    .addOption(portOption("--grpc-port", "GANTRY_GRPC_PORT", "gRPC port for Check and health", 8083))
    .addOption(grpcMaxStreamsOption())
    .addOption(
      new Option(
        "--max-request-bytes <bytes>",
        "largest CheckRequest accepted (RESOURCE_EXHAUSTED beyond; 4Mi, 16Mi...)",
      )
        .env("GANTRY_EXTAUTH_MAX_REQUEST_BYTES")
        .default(4 * 1024 ** 2, "4Mi")
        .argParser(parseBytes),
    )
    .addOption(portOption("--metrics-port", "GANTRY_METRICS_PORT", "port for /metrics, /healthz and /readyz", 9092))
    .addOption(
      new Option("--config <file>", "YAML auth configs keyed by id; reloaded when it changes").env(
        "GANTRY_EXTAUTH_CONFIG",
      ),
    )
    .addOption(
      new Option("--default-config <id>", "auth config for requests whose context_extensions name none").env(
        "GANTRY_EXTAUTH_DEFAULT_CONFIG",
      ),
    )
    .addOption(redisUrlOption("the ext-auth Redis (API keys, HMAC replay protection, sessions)"))
    .addOption(
      new Option("--redis-timeout-ms <ms>", "deadline of each Redis call on the request path and of the /readyz PING")
        .env("GANTRY_EXTAUTH_REDIS_TIMEOUT_MS")
        .default(100)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--apikey-unsubscribed-ttl-ms <ms>",
        "while API key revocations are not received from Redis, keep key verdicts in memory at most this long",
      )
        .env("GANTRY_EXTAUTH_APIKEY_UNSUBSCRIBED_TTL_MS")
        .default(1_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--check-timeout-ms <ms>", "bound on one check, backend calls included")
        .env("GANTRY_EXTAUTH_CHECK_TIMEOUT_MS")
        .default(1_000)
        .argParser(parsePositiveInt),
    )
    .addOption(workersOption())
    .addOption(logLevelOption());
  for (const option of tlsOptions("", "gRPC")) command.addOption(option);
  for (const option of tlsOptions("metrics", "metrics")) command.addOption(option);
  for (const option of [...serverLimitOptions(), ...xdsFeedOptions("extauth")]) command.addOption(option);
  for (const option of configLimitOptions()) command.addOption(option);
  for (const option of tracingOptions()) command.addOption(option);
  command.action(async (flags: ExtAuthFlags) => {
    if (flags.xdsServer && flags.config)
      throw new Error("--config and --xds-server are two config sources: choose one");
    // Every TLS file is checked before anything starts.
    const tls = tlsFilesFromFlags(flags);
    const metricsTls = tlsFilesFromFlags(flags, "metrics");
    const xdsTls = xdsClientTlsFromFlags(flags);
    checkBufferedBytes(flags.grpcMaxBufferedBytes, flags.maxRequestBytes, "--max-request-bytes");
    const tracing = tracingFromFlags(flags, "gantry-extauth");
    const logger = createLogger({ service: "extauth", level: flags.logLevel });
    const options: ExtAuthServerOptions = {
      ...(tracing ? { tracing } : {}),
      host: flags.host,
      grpcPort: flags.grpcPort,
      maxConcurrentStreams: flags.grpcMaxConcurrentStreams,
      ...(tls ? { tls } : {}),
      ...(metricsTls ? { metricsTls } : {}),
      maxRequestBytes: flags.maxRequestBytes,
      serverLimits: {
        maxConnections: flags.grpcMaxConnections,
        maxTotalStreams: flags.grpcMaxTotalStreams,
        maxBufferedBytes: flags.grpcMaxBufferedBytes,
      },
      metricsPort: flags.metricsPort,
      checkTimeoutMs: flags.checkTimeoutMs,
      redisCommandTimeoutMs: flags.redisTimeoutMs,
      apiKeyUnsubscribedTtlMs: flags.apikeyUnsubscribedTtlMs,
      configLimits: configLimits(flags),
      logger,
      ...(flags.config === undefined ? {} : { configFile: flags.config }),
      ...(flags.defaultConfig === undefined ? {} : { defaultConfigId: flags.defaultConfig }),
      ...(flags.redisUrl === undefined ? {} : { redisUrl: flags.redisUrl }),
    };
    const server =
      flags.workers > 1
        ? await startExtAuthWorkers({ ...options, workers: flags.workers })
        : await startExtAuthServer(options);
    const feed =
      flags.xdsServer === undefined
        ? undefined
        : followAuthConfigs(server, {
            server: flags.xdsServer,
            nodeId: flags.nodeId ?? defaultNodeId("extauth"),
            logger,
            ...(xdsTls ? { tls: xdsTls } : {}),
          });
    await stopAllOnSignal(feed, server);
  });
}
