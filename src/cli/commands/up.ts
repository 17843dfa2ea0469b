import type { Command } from "commander";
import { Option } from "commander";
import type { LogLevel } from "../../lib/index.js";
import { defaultExamples, describeStack, exposureWarning, startStack } from "../../up/index.js";
import { logLevelOption, portOption } from "../options.js";
import { stopOnSignal } from "../signals.js";

interface UpFlags {
  host: string;
  configDir: string;
  xdsPort: number;
  apiPort: number;
  metricsPort: number;
  extauthPort: number;
  extauthMetricsPort: number;
  ratelimitPort: number;
  ratelimitMetricsPort: number;
  logLevel: LogLevel;
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run everything in one process on embedded defaults (in-memory stores, the example resources)")
    .addOption(new Option("--host <address>", "address to listen on").env("GANTRY_HOST").default("127.0.0.1"))
    .addOption(
      new Option("--config-dir <dir>", "gantry/v1 resources to load and watch")
        .env("GANTRY_CONFIG_DIR")
        .default(defaultExamples, "examples/features"),
    )
    .addOption(portOption("--xds-port", "GANTRY_XDS_PORT", "xDS port", 18000))
    .addOption(portOption("--api-port", "GANTRY_API_PORT", "management API port", 8080))
    .addOption(portOption("--metrics-port", "GANTRY_METRICS_PORT", "management server metrics port", 9091))
    .addOption(portOption("--extauth-port", "GANTRY_EXTAUTH_PORT", "ext-auth gRPC port", 8083))
    .addOption(portOption("--extauth-metrics-port", "GANTRY_EXTAUTH_METRICS_PORT", "ext-auth metrics port", 9092))
    .addOption(portOption("--ratelimit-port", "GANTRY_RATELIMIT_PORT", "rate-limit gRPC port", 8081))
    .addOption(portOption("--ratelimit-metrics-port", "GANTRY_RATELIMIT_METRICS_PORT", "rate-limit metrics port", 9093))
    .addOption(logLevelOption().default("warn"))
    .action(async (flags: UpFlags) => {
      const warning = exposureWarning(flags.host);
      if (warning) process.stderr.write(warning);
      const token = process.env["GANTRY_API_TOKEN"]?.trim();
      const stack = await startStack({
        host: flags.host,
        configDir: flags.configDir,
        ports: {
          xds: flags.xdsPort,
          api: flags.apiPort,
          metrics: flags.metricsPort,
          extauth: flags.extauthPort,
          extauthMetrics: flags.extauthMetricsPort,
          ratelimit: flags.ratelimitPort,
          ratelimitMetrics: flags.ratelimitMetricsPort,
        },
        ...(token ? { apiToken: token } : {}),
        logLevel: flags.logLevel,
      });
      process.stdout.write(describeStack(stack, flags.host, flags.configDir));
      await stopOnSignal(async () => {
        process.stdout.write("stopping...\n");
        await stack.stop();
        process.stdout.write("stopped\n");
      });
    });
}
