import { type Command, Option } from "commander";
import { startExtAuthServer } from "../../extauth/index.js";
import { followAuthConfigs } from "../../feeds/index.js";
import { createLogger, type LogLevel } from "../../lib/index.js";
import {
  configLimitOptions,
  configLimits,
  defaultNodeId,
  grpcMaxStreamsOption,
  hostOption,
  logLevelOption,
  parsePositiveInt,
  portOption,
  redisUrlOption,
  xdsFeedOptions,
} from "../options.js";
import { stopAllOnSignal } from "../signals.js";

interface ExtAuthFlags {
  host: string;
  grpcPort: number;
  grpcMaxConcurrentStreams: number;
  metricsPort: number;
  config?: string;
  configMaxFileBytes: number;
  configMaxDocuments: number;
  defaultConfig?: string;
  redisUrl?: string;
  checkTimeoutMs: number;
  xdsServer?: string;
  nodeId?: string;
  logLevel: LogLevel;
}

export function registerExtAuth(program: Command): void {
  const command = program
    .command("extauth")
    .description("run the ext_authz server (envoy.service.auth.v3.Authorization/Check)")
    .addOption(hostOption())
    .addOption(portOption("--grpc-port", "GANTRY_GRPC_PORT", "gRPC port for Check and health", 8083))
    .addOption(grpcMaxStreamsOption())
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
      new Option("--check-timeout-ms <ms>", "bound on one check, backend calls included")
        .env("GANTRY_EXTAUTH_CHECK_TIMEOUT_MS")
        .default(1_000)
        .argParser(parsePositiveInt),
    )
    .addOption(logLevelOption());
  for (const option of configLimitOptions()) command.addOption(option);
  for (const option of xdsFeedOptions("extauth")) command.addOption(option);
  command.action(async (flags: ExtAuthFlags) => {
    if (flags.xdsServer && flags.config)
      throw new Error("--config and --xds-server are two config sources: choose one");
    const logger = createLogger({ service: "extauth", level: flags.logLevel });
    const server = await startExtAuthServer({
      host: flags.host,
      grpcPort: flags.grpcPort,
      maxConcurrentStreams: flags.grpcMaxConcurrentStreams,
      metricsPort: flags.metricsPort,
      checkTimeoutMs: flags.checkTimeoutMs,
      configLimits: configLimits(flags),
      logger,
      ...(flags.config === undefined ? {} : { configFile: flags.config }),
      ...(flags.defaultConfig === undefined ? {} : { defaultConfigId: flags.defaultConfig }),
      ...(flags.redisUrl === undefined ? {} : { redisUrl: flags.redisUrl }),
    });
    const feed =
      flags.xdsServer === undefined
        ? undefined
        : followAuthConfigs(server, {
            server: flags.xdsServer,
            nodeId: flags.nodeId ?? defaultNodeId("extauth"),
            logger,
          });
    await stopAllOnSignal(feed, server);
  });
}
