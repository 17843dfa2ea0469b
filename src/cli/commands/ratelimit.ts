import { type Command, InvalidArgumentError, Option } from "commander";
import { followRateLimitConfigs } from "../../feeds/index.js";
import { createLogger, type LogLevel } from "../../lib/index.js";
import {
  defaultRequestLimits,
  defaultResponseHeaderNames,
  type FixedWindowKeyFormat,
  type RateLimitServerOptions,
  type RedisFailureMode,
  type ResponseHeaderNames,
  startRateLimitServer,
  startRateLimitWorkers,
} from "../../ratelimit/index.js";
import {
  checkBufferedBytes,
  configLimitOptions,
  configLimits,
  defaultNodeId,
  grpcMaxStreamsOption,
  hostOption,
  logLevelOption,
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

interface RateLimitFlags extends XdsFeedFlags, ServerLimitFlags, TracingFlags {
  host: string;
  grpcPort: number;
  grpcMaxConcurrentStreams: number;
  metricsPort: number;
  configDir?: string;
  configMaxFileBytes: number;
  configMaxDocuments: number;
  redisUrl?: string;
  redisTimeoutMs: number;
  redisKeyPrefix?: string;
  redisKeyFormat: FixedWindowKeyFormat;
  redisFailureMode: RedisFailureMode;
  responseHeaders: boolean;
  responseHeaderNames: ResponseHeaderNames;
  globalShadowMode: boolean;
  localCache: boolean;
  maxDescriptors: number;
  maxDescriptorEntries: number;
  logLevel: LogLevel;
  workers: number;
}

const failureModes: RedisFailureMode[] = ["error", "allow", "deny"];
const keyFormats: FixedWindowKeyFormat[] = ["envoyproxy", "gantry"];

function parseHeaderNames(value: string): ResponseHeaderNames {
  const [limit, remaining, reset, ...rest] = value.split(",").map((name) => name.trim());
  if (!limit || !remaining || !reset || rest.length > 0)
    throw new InvalidArgumentError(`"${value}" is not three header names: limit,remaining,reset`);
  return { limit, remaining, reset };
}

function parseBoolean(value: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new InvalidArgumentError(`"${value}" is not true or false`);
}

function switchOption(flag: string, env: string, description: string): Option {
  return new Option(`${flag} [bool]`, description).env(env).default(false).argParser(parseBoolean).preset("true");
}

export function registerRateLimit(program: Command): void {
  const command = program
    .command("ratelimit")
    .description("run the rate-limit server (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit)")
    .addOption(hostOption())
    .addOption(portOption("--grpc-port", "GANTRY_GRPC_PORT", "gRPC port for ShouldRateLimit and health", 8081))
    .addOption(grpcMaxStreamsOption())
    .addOption(
      new Option(
        "--max-descriptors <n>",
        "descriptors in one ShouldRateLimit request, at most (INVALID_ARGUMENT beyond)",
      )
        .env("GANTRY_RATELIMIT_MAX_DESCRIPTORS")
        .default(defaultRequestLimits.maxDescriptors)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--max-descriptor-entries <n>", "entries in one descriptor, at most (INVALID_ARGUMENT beyond)")
        .env("GANTRY_RATELIMIT_MAX_DESCRIPTOR_ENTRIES")
        .default(defaultRequestLimits.maxEntriesPerDescriptor)
        .argParser(parsePositiveInt),
    )
    .addOption(portOption("--metrics-port", "GANTRY_METRICS_PORT", "port for /metrics, /healthz and /readyz", 9093))
    .addOption(
      new Option(
        "--config-dir <dir>",
        "envoyproxy/ratelimit YAML files, one domain each; reloaded on change (a bad file keeps the last good config)",
      ).env("GANTRY_RATELIMIT_CONFIG_DIR"),
    )
    .addOption(redisUrlOption("the rate-limit Redis (counters); without it, counters are kept in memory"))
    .addOption(
      new Option("--redis-timeout-ms <ms>", "bound on each Redis round trip")
        .env("GANTRY_RATELIMIT_REDIS_TIMEOUT_MS")
        .default(50)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--redis-key-prefix <prefix>", "prefix for every Redis key").env("GANTRY_RATELIMIT_REDIS_KEY_PREFIX"),
    )
    .addOption(
      new Option(
        "--redis-key-format <format>",
        "fixed-window keys: envoyproxy (envoyproxy/ratelimit's own, shared with it) or gantry (hash-tagged, as before)",
      )
        .env("GANTRY_RATELIMIT_REDIS_KEY_FORMAT")
        .choices(keyFormats)
        .default("envoyproxy"),
    )
    .addOption(
      new Option(
        "--redis-failure-mode <mode>",
        "when Redis fails: error (gRPC UNAVAILABLE, Envoy's failure_mode_deny decides), allow, or deny",
      )
        .env("GANTRY_RATELIMIT_REDIS_FAILURE_MODE")
        .choices(failureModes)
        .default("error"),
    )
    .addOption(
      switchOption(
        "--response-headers",
        "GANTRY_RATELIMIT_RESPONSE_HEADERS",
        "add RateLimit-Limit/Remaining/Reset headers",
      ),
    )
    .addOption(
      new Option("--response-header-names <limit,remaining,reset>", "names of the three response headers")
        .env("GANTRY_RATELIMIT_RESPONSE_HEADER_NAMES")
        .default(defaultResponseHeaderNames, Object.values(defaultResponseHeaderNames).join(","))
        .argParser(parseHeaderNames),
    )
    .addOption(
      switchOption(
        "--global-shadow-mode",
        "GANTRY_RATELIMIT_GLOBAL_SHADOW_MODE",
        "always answer overall OK (statuses and metrics still show what would be limited)",
      ),
    )
    .addOption(
      // A bare boolean flag would take the variable's presence as "on", so `...NO_LOCAL_CACHE=false`
      // would turn the cache off; the value is read as the other switches read theirs.
      new Option("--no-local-cache [bool]", "ask Redis even for keys known to be over limit")
        .env("GANTRY_RATELIMIT_NO_LOCAL_CACHE")
        .argParser((value) => !parseBoolean(value))
        .preset("true"),
    )
    .addOption(workersOption())
    .addOption(logLevelOption());
  for (const option of tlsOptions("", "gRPC")) command.addOption(option);
  for (const option of tlsOptions("metrics", "metrics")) command.addOption(option);
  for (const option of [...serverLimitOptions(), ...xdsFeedOptions("ratelimit")]) command.addOption(option);
  for (const option of configLimitOptions()) command.addOption(option);
  for (const option of tracingOptions()) command.addOption(option);
  command.action(async (flags: RateLimitFlags) => {
    if (flags.xdsServer && flags.configDir) {
      throw new Error("--config-dir and --xds-server are two config sources: choose one");
    }
    // Every TLS file is checked before anything starts.
    const tls = tlsFilesFromFlags(flags);
    const metricsTls = tlsFilesFromFlags(flags, "metrics");
    const xdsTls = xdsClientTlsFromFlags(flags);
    checkBufferedBytes(flags.grpcMaxBufferedBytes, 4 * 1024 ** 2, "the largest request (4Mi)");
    const tracing = tracingFromFlags(flags, "gantry-ratelimit");
    const logger = createLogger({ service: "ratelimit", level: flags.logLevel });
    const options: RateLimitServerOptions = {
      ...(tracing ? { tracing } : {}),
      host: flags.host,
      grpcPort: flags.grpcPort,
      maxConcurrentStreams: flags.grpcMaxConcurrentStreams,
      ...(tls ? { tls } : {}),
      ...(metricsTls ? { metricsTls } : {}),
      serverLimits: {
        maxConnections: flags.grpcMaxConnections,
        maxTotalStreams: flags.grpcMaxTotalStreams,
        maxBufferedBytes: flags.grpcMaxBufferedBytes,
      },
      requestLimits: { maxDescriptors: flags.maxDescriptors, maxEntriesPerDescriptor: flags.maxDescriptorEntries },
      metricsPort: flags.metricsPort,
      redisTimeoutMs: flags.redisTimeoutMs,
      redisFailureMode: flags.redisFailureMode,
      redisKeyFormat: flags.redisKeyFormat,
      responseHeaders: flags.responseHeaders ? flags.responseHeaderNames : false,
      globalShadowMode: flags.globalShadowMode,
      localCache: flags.localCache,
      configLimits: configLimits(flags),
      logger,
      ...(flags.configDir === undefined ? {} : { configDir: flags.configDir }),
      ...(flags.redisUrl === undefined ? {} : { redisUrl: flags.redisUrl }),
      ...(flags.redisKeyPrefix === undefined ? {} : { redisKeyPrefix: flags.redisKeyPrefix }),
    };
    const server =
      flags.workers > 1
        ? await startRateLimitWorkers({ ...options, workers: flags.workers })
        : await startRateLimitServer(options);
    const feed =
      flags.xdsServer === undefined
        ? undefined
        : followRateLimitConfigs(server, {
            server: flags.xdsServer,
            nodeId: flags.nodeId ?? defaultNodeId("ratelimit"),
            logger,
            ...(xdsTls ? { tls: xdsTls } : {}),
          });
    await stopAllOnSignal(feed, server);
  });
}
