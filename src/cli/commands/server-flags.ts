// `gantry server`'s flags: their definitions (names, variables, defaults, parsers) and the checks
// made on them before any port opens.
import { readFileSync, statSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { defaultRetention } from "../../insights/index.js";
import type { LogLevel } from "../../lib/index.js";
import { parseRedisUrl } from "../../lib/redis.js";
import {
  type ApiLimits,
  apiLimitFlags,
  checkApiTokens,
  defaultApiLimits,
  resolveApiLimits,
} from "../../server/index.js";
import { defaultXdsRequestLimits } from "../../xds/index.js";
import {
  configLimitOptions,
  hostOption,
  logLevelOption,
  parseBytes,
  parseHostPort,
  parsePositiveInt,
  portOption,
  redisUrlOption,
  type TracingFlags,
  tlsOptions,
  tracingOptions,
} from "../options.js";
import { checkKubeFlags, type FlagGiven, type KubeFlags, kubeOptions } from "./server-kube.js";
import { checkRelayFlags, type RelayFlags, relayOptions } from "./server-relay.js";
import { uiOptions } from "./server-ui.js";

export interface ServerFlags extends TracingFlags, RelayFlags, KubeFlags {
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
  secretsToken: string | undefined,
  otherWaysIn: boolean,
  given: FlagGiven,
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
  checkKubeFlags(flags, given);
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

/** A flag given on the command line or by its environment variable, not left at its default. */
export function flagGiven(command: Command): FlagGiven {
  return (attribute) => {
    const source = command.getOptionValueSource(attribute);
    return source === "cli" || source === "env";
  };
}

/** Commander's attribute name for a flag: `--api-max-body-bytes` → `apiMaxBodyBytes`. */
const attributeOf = (flag: string) => flag.slice(2).replace(/-([a-z])/g, (_all, c: string) => c.toUpperCase());

export function apiLimitsOf(flags: ServerFlags): ApiLimits {
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

/** Adds every flag of `gantry server` to its command. */
export function addServerFlags(command: Command): void {
  command
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
  for (const option of tlsOptions("xds", "xDS")) command.addOption(option);
  // The API authenticates its callers by token; its TLS gives privacy and the server's identity.
  for (const option of tlsOptions("api", "management API", false)) command.addOption(option);
  for (const option of tlsOptions("metrics", "metrics")) command.addOption(option);
}
