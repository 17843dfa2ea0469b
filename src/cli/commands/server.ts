import { readFileSync, statSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  defaultRetention,
  MemoryInsightHistory,
  PrometheusSource,
  RedisInsightHistory,
  registrySource,
} from "../../insights/index.js";
import { systemClock } from "../../lib/clock.js";
import {
  createLogger,
  createRegistry,
  type LogLevel,
  type Readiness,
  startTelemetryServer,
  TlsFileWatch,
} from "../../lib/index.js";
import { createRedis, parseRedisUrl } from "../../lib/redis.js";
import {
  type ApiLimits,
  apiLimitFlags,
  checkApiTokens,
  defaultApiLimits,
  PrometheusGraphRates,
  RedisSignOuts,
  resolveApiLimits,
  startManagementServer,
} from "../../server/index.js";
import { MemoryStore, RedisStore, type ResourceStore } from "../../store/index.js";
import { defaultXdsRequestLimits } from "../../xds/index.js";
import {
  configLimitOptions,
  configLimits,
  hostOption,
  logLevelOption,
  parseBytes,
  parseHostPort,
  parsePositiveInt,
  portOption,
  redisUrlOption,
  type TracingFlags,
  tlsFilesFromFlags,
  tlsOptions,
  tracingFromFlags,
  tracingOptions,
} from "../options.js";
import { stopOnSignal } from "../signals.js";
import {
  checkKubeFlags,
  type KubeFlags,
  kubeClientOf,
  kubeOptions,
  startAdmission,
  startLeaderElection,
} from "./server-kube.js";
import { checkRelayFlags, openClusterRegistry, type RelayFlags, relayOptions } from "./server-relay.js";
import { apiTokensFromFlags, type UiFlags, uiFromFlags, uiOptions } from "./server-ui.js";

interface ServerFlags extends TracingFlags, RelayFlags, KubeFlags {
  host: string;
  xdsPort: number;
  apiPort: number;
  metricsPort: number;
  configDir?: string;
  configMaxFileBytes: number;
  configMaxDocuments: number;
  redisUrl?: string;
  redisTimeoutMs: number;
  apiTokenFile?: string;
  apiSecretsTokenFile?: string;
  insecureApi?: boolean;
  extauthAddress?: { host: string; port: number };
  ratelimitAddress?: { host: string; port: number };
  serverName?: string;
  xdsMaxConnections: number;
  xdsMaxTotalStreams: number;
  xdsMaxRequestBytes: number;
  xdsMaxStreamsPerConnection: number;
  xdsMaxBufferedBytes: number;
  xdsWriteStallMs: number;
  prometheusUrl?: string;
  insightsIntervalMs: number;
  insightsHistoryMax: number;
  logLevel: LogLevel;
  /** The API limits, under commander's names for their flags (`--api-max-body-bytes` → apiMaxBodyBytes). */
  [limitFlag: `api${string}`]: unknown;
  xdsTlsCertFile?: string;
  xdsTlsKeyFile?: string;
  xdsTlsClientCaFile?: string;
  apiTlsCertFile?: string;
  apiTlsKeyFile?: string;
}

/**
 * A token from a file, or from an environment variable; never a flag value (flags show in process
 * lists). `flag` names the file's flag in messages.
 */
export function readApiToken(
  file: string | undefined,
  flag = "--api-token-file",
  env = "GANTRY_API_TOKEN",
): string | undefined {
  if (file) {
    try {
      const token = readFileSync(file, "utf8").trim();
      if (token === "") throw new Error("the file is empty");
      return token;
    } catch (err) {
      throw new Error(`${flag} ${file}: ${(err as Error).message}`);
    }
  }
  return process.env[env]?.trim() || undefined;
}

const limitKeys = Object.keys(defaultApiLimits) as Array<keyof ApiLimits>;

/**
 * Checks every flag and the values they point at before any port opens, so that a bad one stops
 * the server at once, with a message naming it, instead of leaving some ports served.
 */
export function checkServerFlags(
  flags: ServerFlags,
  token: string | undefined,
  secretsToken?: string,
  otherWaysIn = false,
): void {
  if (token !== undefined) {
    try {
      checkApiTokens({ token });
    } catch (err) {
      const source = flags.apiTokenFile ? `--api-token-file ${flags.apiTokenFile}` : "GANTRY_API_TOKEN";
      throw new Error(`${source}: ${(err as Error).message}`);
    }
  } else if (!flags.insecureApi && !otherWaysIn) {
    throw new Error(
      "the management API needs a token: --api-token-file FILE or GANTRY_API_TOKEN, --api-tokens-file, --ui-oidc-issuer (or --insecure-api)",
    );
  }
  if (secretsToken !== undefined) {
    try {
      checkApiTokens({ token, secretsToken, insecure: true });
    } catch (err) {
      const source = flags.apiSecretsTokenFile
        ? `--api-secrets-token-file ${flags.apiSecretsTokenFile}`
        : "GANTRY_API_SECRETS_TOKEN";
      throw new Error(`${source}: ${(err as Error).message}`);
    }
  }
  resolveApiLimits(apiLimitsOf(flags));
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
  checkRelayFlags(flags);
  checkKubeFlags(flags);
  const ports: Array<[string, number]> = [
    ["--xds-port", flags.xdsPort],
    ["--api-port", flags.apiPort],
    ["--metrics-port", flags.metricsPort],
    ...(flags.relayPort === undefined ? [] : [["--relay-port", flags.relayPort] as [string, number]]),
    ...(flags.admissionPort === undefined ? [] : [["--admission-port", flags.admissionPort] as [string, number]]),
  ];
  for (const [i, [flag, port]] of ports.entries()) {
    const other = ports.slice(i + 1).find(([, p]) => p === port && p !== 0);
    if (other) throw new Error(`${flag} and ${other[0]} are both ${port}: each needs its own port`);
  }
}

/** Commander's attribute name for a flag: `--api-max-body-bytes` → `apiMaxBodyBytes`. */
const attributeOf = (flag: string) => flag.slice(2).replace(/-([a-z])/g, (_all, c: string) => c.toUpperCase());

function apiLimitsOf(flags: ServerFlags): ApiLimits {
  return Object.fromEntries(
    limitKeys.map((key) => [key, flags[attributeOf(apiLimitFlags[key]) as `api${string}`]]),
  ) as unknown as ApiLimits;
}

const limitHelp: Record<keyof ApiLimits, string> = {
  maxBodyBytes: "largest API request body; larger ones are refused (413) before they are read",
  headersTimeoutMs: "an API connection must send a request's headers within this",
  requestTimeoutMs: "an API request must be received whole within this",
  idleTimeoutMs: "an API connection with no request in flight is closed after this",
  maxConnections: "API connections open at once, at most",
  authFailuresPerMinute: "failed API authentications allowed per client address (burst and per minute)",
};

/** One flag per API limit, with its default; env GANTRY_API_… spelled after the flag. */
function apiLimitOptions(): Option[] {
  return limitKeys.map((key) => {
    const flag = apiLimitFlags[key];
    const env = `GANTRY_${flag.slice(2).replace(/-/g, "_").toUpperCase()}`;
    return new Option(`${flag} <n>`, limitHelp[key])
      .env(env)
      .default(defaultApiLimits[key])
      .argParser(parsePositiveInt);
  });
}

/** `--prometheus-url`: an http(s) URL, the base of Prometheus' HTTP API. */
function parsePrometheusUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`"${text}" is not a URL (for example http://127.0.0.1:9090)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`"${text}": expected http:// or https://`);
  }
  return text;
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
      new Option(
        "--redis-timeout-ms <ms>",
        "deadline of each management Redis call and of the /readyz PING; an apply answers within about twice this",
      )
        .env("GANTRY_REDIS_TIMEOUT_MS")
        .default(2_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--api-token-file <path>", "file holding the API bearer token (or set GANTRY_API_TOKEN)").env(
        "GANTRY_API_TOKEN_FILE",
      ),
    )
    .addOption(new Option("--insecure-api", "serve the management API without a token (local development only)"))
    .addOption(
      new Option(
        "--api-secrets-token-file <path>",
        "file holding a second token that may ask to see secrets (get/describe --show-secrets); or set GANTRY_API_SECRETS_TOKEN; without it, nobody may",
      ).env("GANTRY_API_SECRETS_TOKEN_FILE"),
    )
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
    .addOption(
      new Option("--xds-max-connections <n>", "open xDS client connections, at most (a newer one gets GOAWAY)")
        .env("GANTRY_XDS_MAX_CONNECTIONS")
        .default(10_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--xds-max-total-streams <n>",
        "xDS streams open across all connections, at most (a newer one ends UNAVAILABLE and is retried)",
      )
        .env("GANTRY_XDS_MAX_TOTAL_STREAMS")
        .default(10_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--xds-max-request-bytes <bytes>",
        "one xDS request message, at most (64Ki, 4Mi...); a larger one ends its stream RESOURCE_EXHAUSTED",
      )
        .env("GANTRY_XDS_MAX_REQUEST_BYTES")
        .default(defaultXdsRequestLimits.maxRequestBytes, "4Mi")
        .argParser(parseBytes),
    )
    .addOption(
      new Option("--xds-max-streams-per-connection <n>", "xDS streams open on one client connection, at most")
        .env("GANTRY_XDS_MAX_STREAMS_PER_CONNECTION")
        .default(defaultXdsRequestLimits.maxStreamsPerConnection)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--xds-max-buffered-bytes <bytes>",
        "xDS response bytes encoded and not yet written, across all streams (16Mi, 64Mi...); beyond it, streams wait",
      )
        .env("GANTRY_XDS_MAX_BUFFERED_BYTES")
        .default(defaultXdsRequestLimits.maxBufferedBytes, "64Mi")
        .argParser(parseBytes),
    )
    .addOption(
      new Option(
        "--xds-write-stall-ms <ms>",
        "an xDS client that writes nothing out this long while others wait for the byte budget loses its connection",
      )
        .env("GANTRY_XDS_WRITE_STALL_MS")
        .default(defaultXdsRequestLimits.writeStallMs)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--prometheus-url <url>",
        "a Prometheus server whose HTTP API the data-plane insights query; without it, this process's own metrics",
      )
        .env("GANTRY_PROMETHEUS_URL")
        .argParser(parsePrometheusUrl),
    )
    .addOption(
      new Option("--insights-interval-ms <ms>", "how often the periodic insights run (proxies, Redis, data plane)")
        .env("GANTRY_INSIGHTS_INTERVAL_MS")
        .default(15_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--insights-history-max <n>", "resolved insights kept in the history, at most (also: 7 days at most)")
        .env("GANTRY_INSIGHTS_HISTORY_MAX")
        .default(defaultRetention.maxEntries)
        .argParser(parsePositiveInt),
    )
    .addOption(logLevelOption());
  for (const option of apiLimitOptions()) command.addOption(option);
  for (const option of relayOptions()) command.addOption(option);
  for (const option of kubeOptions()) command.addOption(option);
  for (const option of configLimitOptions()) command.addOption(option);
  for (const option of tracingOptions()) command.addOption(option);
  for (const option of uiOptions()) command.addOption(option);
  command.action(async (flags: ServerFlags & UiFlags) => {
    const token = readApiToken(flags.apiTokenFile);
    const secretsToken = readApiToken(
      flags.apiSecretsTokenFile,
      "--api-secrets-token-file",
      "GANTRY_API_SECRETS_TOKEN",
    );
    const apiTokens = apiTokensFromFlags(flags);
    const ui = uiFromFlags(flags);
    checkServerFlags(flags, token, secretsToken, apiTokens !== undefined || ui.oidc !== undefined);
    const kube = await kubeClientOf(flags);
    const xdsTls = tlsFilesFromFlags(flags, "xds");
    const apiTls = tlsFilesFromFlags(flags, "api");
    const metricsTls = tlsFilesFromFlags(flags, "metrics");
    const logger = createLogger({ service: "server", level: flags.logLevel });
    if (ui.oidc && flags.uiSessionKeyFile === undefined) {
      logger.warn(
        "OIDC sign-in sessions are sealed with a key of this process: they hold on this replica only, until it restarts (give every replica the same --ui-session-key-file)",
      );
    }
    let store: ResourceStore;
    if (flags.redisUrl) {
      const redisStore = new RedisStore({ url: flags.redisUrl, commandTimeoutMs: flags.redisTimeoutMs, logger });
      await redisStore.ready(10_000);
      store = redisStore;
    } else {
      store = new MemoryStore();
    }
    const registry = createRegistry("server");
    // Every replica watches and serves; the Lease holder alone writes statuses.
    const election = kube ? startLeaderElection(flags, kube, registry, logger) : undefined;
    const tracing = tracingFromFlags(flags, "gantry-server");
    const retention = { ...defaultRetention, maxEntries: flags.insightsHistoryMax };
    // History and silences live beside the resources; the same Redis is probed for its health.
    const insightsRedis =
      flags.redisUrl === undefined
        ? undefined
        : createRedis({
            url: flags.redisUrl,
            commandTimeoutMs: flags.redisTimeoutMs,
            connectionName: "gantry-insights",
            logger,
          });
    const opened = flags.relayPort === undefined ? undefined : await openClusterRegistry(flags);
    const clusters = opened?.registry;
    if (clusters && !flags.redisUrl && !flags.relayCaCertFile) {
      logger.warn(
        "the relay CA lives in memory: a restart makes a new one, and enrolled agents must register again (give --redis-url or --relay-ca-cert-file)",
      );
    }
    if (
      opened &&
      !opened.trust.brought &&
      flags.caKeyEncryptionKeyFile === undefined &&
      !process.env["GANTRY_CA_KEY_ENCRYPTION_KEY"]
    ) {
      logger.warn(
        "the workload root CA key is stored unencrypted: give --ca-key-encryption-key-file (docs/security.md)",
      );
    }
    const server = await startManagementServer({
      ...(tracing ? { tracing } : {}),
      store,
      host: flags.host,
      xdsPort: flags.xdsPort,
      apiPort: flags.apiPort,
      apiToken: token,
      ...(secretsToken === undefined ? {} : { apiSecretsToken: secretsToken }),
      ...(apiTokens ? { apiTokens } : {}),
      // Sign-outs in the management Redis hold on every replica; in memory, on this one only.
      ui:
        ui.oidc && insightsRedis
          ? { ...ui, oidc: { ...ui.oidc, signOuts: new RedisSignOuts(insightsRedis, systemClock) } }
          : ui,
      ...(flags.prometheusUrl
        ? {
            dataPlaneRates: new PrometheusSource(flags.prometheusUrl),
            graphRates: new PrometheusGraphRates(flags.prometheusUrl),
          }
        : {}),
      apiLimits: apiLimitsOf(flags),
      ...(flags.insecureApi ? { insecureApi: true } : {}),
      ...(flags.configDir ? { configDir: flags.configDir } : {}),
      configLimits: configLimits(flags),
      translate: {
        // Workload identities (AccessPolicy sources, destinations' server identities) share it.
        trustDomain: flags.trustDomain,
        ...(flags.extauthAddress ? { extAuth: flags.extauthAddress } : {}),
        ...(flags.ratelimitAddress ? { rateLimit: flags.ratelimitAddress } : {}),
      },
      ...(flags.serverName ? { serverName: flags.serverName } : {}),
      ...(xdsTls ? { xdsTls } : {}),
      ...(apiTls ? { apiTls } : {}),
      xdsLimits: {
        maxConnections: flags.xdsMaxConnections,
        maxTotalStreams: flags.xdsMaxTotalStreams,
        maxRequestBytes: flags.xdsMaxRequestBytes,
        maxStreamsPerConnection: flags.xdsMaxStreamsPerConnection,
        maxBufferedBytes: flags.xdsMaxBufferedBytes,
        writeStallMs: flags.xdsWriteStallMs,
      },
      ...(flags.relayPort === undefined
        ? {}
        : { relay: { port: flags.relayPort, ...(opened ? { registry: opened.registry, trust: opened.trust } : {}) } }),
      ...(kube
        ? {
            kubernetes: {
              api: kube,
              ...(flags.kubeNamespace ? { namespace: flags.kubeNamespace } : {}),
              ...(election ? { leadership: election.elector } : {}),
            },
          }
        : {}),
      logger,
      registry,
      insights: {
        history: insightsRedis
          ? new RedisInsightHistory(insightsRedis, systemClock, retention)
          : new MemoryInsightHistory(systemClock, retention),
        ...(insightsRedis ? { redis: [{ role: "management", client: insightsRedis }] } : {}),
        metrics: flags.prometheusUrl
          ? new PrometheusSource(flags.prometheusUrl)
          : registrySource([registry], () => systemClock.now()),
        intervalMs: flags.insightsIntervalMs,
      },
    });
    const admission = await startAdmission(flags, kube, clusters, logger);
    const telemetry = await startTelemetryServer({
      registry,
      host: flags.host,
      port: flags.metricsPort,
      logger,
      ...(metricsTls ? { tls: new TlsFileWatch(metricsTls, { logger }) } : {}),
      readiness: async (): Promise<Readiness> => {
        if (!server.ready) return { ready: false, reason: "no translation published yet" };
        const leader = election ? [election.detail()] : [];
        if (!store.ping) return { ready: true, ...(leader.length > 0 ? { detail: leader } : {}) };
        // A PING within the Redis deadline: a hung Redis (socket open, no answer) is not ready either.
        const problem = await store.ping().then(
          () => undefined,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        const detail = [`management redis: ${problem ?? "ok"}`, ...leader];
        return problem === undefined ? { ready: true, detail } : { ready: false, reason: problem, detail };
      },
      readinessTimeoutMs: flags.redisTimeoutMs + 1_000,
    });
    logger.info(
      {
        xds: server.xdsPort,
        api: server.apiPort,
        ...(server.relayPort === undefined ? {} : { relay: server.relayPort }),
        ...(admission ? { admission: admission.port } : {}),
        metrics: telemetry.port,
        store: flags.redisUrl ? "redis" : "memory",
        tls: { xds: xdsTls !== undefined, api: apiTls !== undefined },
      },
      "gantry server started",
    );
    await stopOnSignal(async () => {
      logger.info("stopping");
      // The Lease is released first, so another replica takes over the status writes at once.
      await election?.elector.stop();
      await server.stop();
      await admission?.close();
      await telemetry.close();
      insightsRedis?.disconnect();
      await clusters?.close();
      await store.close();
    });
  });
  for (const option of tlsOptions("xds", "xDS")) command.addOption(option);
  // The API authenticates its callers by token; its TLS gives privacy and the server's identity.
  for (const option of tlsOptions("api", "management API", false)) command.addOption(option);
  for (const option of tlsOptions("metrics", "metrics")) command.addOption(option);
}
