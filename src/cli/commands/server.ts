import { readFileSync, statSync } from "node:fs";
import { type Command, Option } from "commander";
import { createLogger, createRegistry, type LogLevel, startTelemetryServer } from "../../lib/index.js";
import { parseRedisUrl } from "../../lib/redis.js";
import { checkApiToken } from "../../server/api/auth.js";
import { startManagementServer } from "../../server/index.js";
import { MemoryStore, RedisStore, type ResourceStore } from "../../store/index.js";
import {
  configLimitOptions,
  configLimits,
  hostOption,
  logLevelOption,
  parseHostPort,
  portOption,
  redisUrlOption,
} from "../options.js";
import { stopOnSignal } from "../signals.js";

interface ServerFlags {
  host: string;
  xdsPort: number;
  apiPort: number;
  metricsPort: number;
  configDir?: string;
  configMaxFileBytes: number;
  configMaxDocuments: number;
  redisUrl?: string;
  apiTokenFile?: string;
  insecureApi?: boolean;
  extauthAddress?: { host: string; port: number };
  ratelimitAddress?: { host: string; port: number };
  serverName?: string;
  logLevel: LogLevel;
}

/** The API token from a file, or GANTRY_API_TOKEN; never a flag value (flags show in process lists). */
export function readApiToken(file: string | undefined): string | undefined {
  if (file) {
    try {
      const token = readFileSync(file, "utf8").trim();
      if (token === "") throw new Error("the file is empty");
      return token;
    } catch (err) {
      throw new Error(`--api-token-file ${file}: ${(err as Error).message}`);
    }
  }
  return process.env["GANTRY_API_TOKEN"]?.trim() || undefined;
}

/**
 * Checks every flag and the values they point at before any port opens, so that a bad one stops
 * the server at once, with a message naming it, instead of leaving some ports served.
 */
export function checkServerFlags(flags: ServerFlags, token: string | undefined): void {
  if (token !== undefined) {
    try {
      checkApiToken(token);
    } catch (err) {
      const source = flags.apiTokenFile ? `--api-token-file ${flags.apiTokenFile}` : "GANTRY_API_TOKEN";
      throw new Error(`${source}: ${(err as Error).message}`);
    }
  } else if (!flags.insecureApi) {
    throw new Error("the management API needs a token: --api-token-file FILE or GANTRY_API_TOKEN (or --insecure-api)");
  }
  if (flags.configDir !== undefined) {
    let isDir: boolean;
    try {
      isDir = statSync(flags.configDir).isDirectory();
    } catch (err) {
      throw new Error(
        `--config-dir ${flags.configDir}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : (err as Error).message}`,
      );
    }
    if (!isDir) throw new Error(`--config-dir ${flags.configDir}: not a folder`);
  }
  if (flags.redisUrl !== undefined) {
    try {
      parseRedisUrl(flags.redisUrl);
    } catch (err) {
      throw new Error(`--redis-url: ${(err as Error).message}`);
    }
  }
  const ports: Array<[string, number]> = [
    ["--xds-port", flags.xdsPort],
    ["--api-port", flags.apiPort],
    ["--metrics-port", flags.metricsPort],
  ];
  for (const [i, [flag, port]] of ports.entries()) {
    const other = ports.slice(i + 1).find(([, p]) => p === port && p !== 0);
    if (other) throw new Error(`${flag} and ${other[0]} are both ${port}: each needs its own port`);
  }
}

export function registerServer(program: Command): void {
  const command = program
    .command("server")
    .description(
      "run the management server: resource store, translation, xDS (ADS SotW + delta) and the management API",
    )
    .addOption(hostOption())
    .addOption(portOption("--xds-port", "GANTRY_XDS_PORT", "xDS port (ADS and per-type services)", 18000))
    .addOption(portOption("--api-port", "GANTRY_API_PORT", "management API port (Connect JSON, gRPC)", 8080))
    .addOption(portOption("--metrics-port", "GANTRY_METRICS_PORT", "port for /metrics, /healthz and /readyz", 9091))
    .addOption(
      new Option("--config-dir <dir>", "a folder of gantry/v1 YAML documents, kept in the store and watched").env(
        "GANTRY_CONFIG_DIR",
      ),
    )
    .addOption(
      redisUrlOption("the management Redis (resources, shared by replicas); without it, resources live in memory"),
    )
    .addOption(
      new Option("--api-token-file <path>", "file holding the API bearer token (or set GANTRY_API_TOKEN)").env(
        "GANTRY_API_TOKEN_FILE",
      ),
    )
    .addOption(new Option("--insecure-api", "serve the management API without a token (local development only)"))
    .addOption(
      new Option("--extauth-address <host:port>", "where proxies reach gantry extauth (served to them as a cluster)")
        .env("GANTRY_EXTAUTH_ADDRESS")
        .argParser(parseHostPort),
    )
    .addOption(
      new Option(
        "--ratelimit-address <host:port>",
        "where proxies reach gantry ratelimit (served to them as a cluster)",
      )
        .env("GANTRY_RATELIMIT_ADDRESS")
        .argParser(parseHostPort),
    )
    .addOption(
      new Option("--server-name <name>", "this replica's name in proxy status (default: host name)").env(
        "GANTRY_SERVER_NAME",
      ),
    )
    .addOption(logLevelOption());
  for (const option of configLimitOptions()) command.addOption(option);
  command.action(async (flags: ServerFlags) => {
    const token = readApiToken(flags.apiTokenFile);
    checkServerFlags(flags, token);
    const logger = createLogger({ service: "server", level: flags.logLevel });
    let store: ResourceStore;
    if (flags.redisUrl) {
      const redisStore = new RedisStore({ url: flags.redisUrl, logger });
      await redisStore.ready(10_000);
      store = redisStore;
    } else {
      store = new MemoryStore();
    }
    const registry = createRegistry("server");
    const server = await startManagementServer({
      store,
      host: flags.host,
      xdsPort: flags.xdsPort,
      apiPort: flags.apiPort,
      apiToken: token,
      ...(flags.insecureApi ? { insecureApi: true } : {}),
      ...(flags.configDir ? { configDir: flags.configDir } : {}),
      configLimits: configLimits(flags),
      translate: {
        ...(flags.extauthAddress ? { extAuth: flags.extauthAddress } : {}),
        ...(flags.ratelimitAddress ? { rateLimit: flags.ratelimitAddress } : {}),
      },
      ...(flags.serverName ? { serverName: flags.serverName } : {}),
      logger,
      registry,
    });
    const telemetry = await startTelemetryServer({
      registry,
      host: flags.host,
      port: flags.metricsPort,
      logger,
      readiness: () => (server.ready ? { ready: true } : { ready: false, reason: "no translation published yet" }),
    });
    logger.info(
      {
        xds: server.xdsPort,
        api: server.apiPort,
        metrics: telemetry.port,
        store: flags.redisUrl ? "redis" : "memory",
      },
      "gantry server started",
    );
    await stopOnSignal(async () => {
      logger.info("stopping");
      await server.stop();
      await telemetry.close();
      await store.close();
    });
  });
}
