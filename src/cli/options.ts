import { availableParallelism, hostname } from "node:os";
import { InvalidArgumentError, Option } from "commander";
import { defaultFileLimits, type FileLimits } from "../config/index.js";
import type { ClientTlsFiles } from "../lib/grpc-tls.js";
import { type LogLevel, logLevels } from "../lib/logger.js";
import { loadTlsFiles, type TlsFiles } from "../lib/tls.js";
import { checkTracingOptions, type TracingOptions } from "../lib/tracing/index.js";

/**
 * Options shared by several subcommands. Each one reads a flag or, failing that, a GANTRY_*
 * environment variable; `--help` shows both.
 */

export function parsePort(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a port number`);
  const port = Number(value);
  if (port > 65535) throw new InvalidArgumentError(`port ${port} is out of range (0-65535)`);
  return port;
}

/** `host:port`, the host possibly an IPv6 address in brackets. */
export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (!match?.[1] || !match[2]) throw new InvalidArgumentError(`"${value}" is not host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ""), port: parsePort(match[2]) };
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return Number(value);
}

export function portOption(flag: string, env: string, description: string, defaultPort: number): Option {
  return new Option(`${flag} <port>`, description).env(env).default(defaultPort).argParser(parsePort);
}

export function hostOption(): Option {
  return new Option("--host <address>", "address to listen on").env("GANTRY_HOST").default("0.0.0.0");
}

/** The HTTP/2 concurrent stream limit of a data-plane gRPC port (announced to clients and enforced). */
export function grpcMaxStreamsOption(): Option {
  return new Option("--grpc-max-concurrent-streams <n>", "calls in flight on one client connection, at most")
    .env("GANTRY_GRPC_MAX_CONCURRENT_STREAMS")
    .default(1_000)
    .argParser(parsePositiveInt);
}

/** A byte count: an integer, or one with a binary suffix (`64Ki`, `256Mi`, `1Gi`). */
export function parseBytes(value: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(value);
  const scale = match?.[2] === "Ki" ? 1024 : match?.[2] === "Mi" ? 1024 ** 2 : match?.[2] === "Gi" ? 1024 ** 3 : 1;
  const bytes = match ? Number(match[1]) * scale : Number.NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes))
    throw new InvalidArgumentError(`"${value}" is not a positive byte count (such as 1048576, 64Ki, 256Mi or 1Gi)`);
  return bytes;
}

/** The server-wide bounds of a data-plane gRPC port, as flags. */
export interface ServerLimitFlags {
  grpcMaxConnections: number;
  grpcMaxTotalStreams: number;
  grpcMaxBufferedBytes: number;
}

/** The server-wide bounds of a data-plane gRPC port: connections, calls in flight across connections, request bytes held. */
export function serverLimitOptions(): Option[] {
  const env = "GANTRY_GRPC";
  const prefix = "grpc";
  return [
    new Option(`--${prefix}-max-connections <n>`, "open client connections, at most (a newer one gets GOAWAY)")
      .env(`${env}_MAX_CONNECTIONS`)
      .default(10_000)
      .argParser(parsePositiveInt),
    new Option(
      `--${prefix}-max-total-streams <n>`,
      "calls in flight across all connections, at most (a newer one is refused, REFUSED_STREAM)",
    )
      .env(`${env}_MAX_TOTAL_STREAMS`)
      .default(10_000)
      .argParser(parsePositiveInt),
    new Option(
      `--${prefix}-max-buffered-bytes <bytes>`,
      "request bytes held across all connections before the server stops reading (64Ki, 256Mi, 1Gi...)",
    )
      .env(`${env}_MAX_BUFFERED_BYTES`)
      .default(256 * 1024 ** 2, "256Mi")
      .argParser(parseBytes),
  ];
}

/**
 * A request is held whole until it ends, so the byte budget must hold the largest one (with its 5-byte
 * gRPC prefix); a smaller budget would stall such a request until its timeout.
 */
export function checkBufferedBytes(budget: number, largestRequest: number, what: string): void {
  if (budget < largestRequest + 5) {
    throw new Error(`--grpc-max-buffered-bytes (${budget}) must be larger than ${what} (${largestRequest} bytes)`);
  }
}

export function redisUrlOption(description: string): Option {
  return new Option(
    "--redis-url <url>",
    `${description}; redis://host:port[/db], rediss:// (TLS), redis+sentinel://h:p,h:p/master, redis+cluster://h:p,h:p`,
  ).env("GANTRY_REDIS_URL");
}

/**
 * `--workers N` of the data-plane services: N processes share the gRPC port (see docs/ratelimit.md
 * and docs/extauth.md). Default: one per core; 1 runs everything in one process, as `gantry up` does.
 */
export function workersOption(): Option {
  return new Option("--workers <n>", "worker processes sharing the gRPC port (1: one process, no workers)")
    .env("GANTRY_WORKERS")
    .default(availableParallelism(), "the number of cores")
    .argParser(parsePositiveInt);
}

export function logLevelOption(): Option {
  return new Option("--log-level <level>", "log level")
    .env("GANTRY_LOG_LEVEL")
    .choices(logLevels)
    .default("info" satisfies LogLevel);
}

/** `--xds-server` and `--node-id`, for services that take their config from the management server. */
export function xdsFeedOptions(role: string): Option[] {
  return [
    new Option(
      "--xds-server <host:port>",
      "take config from gantry server over xDS (instead of files); the last good config stays while it is away",
    ).env("GANTRY_XDS_SERVER"),
    new Option("--node-id <id>", `this replica's xDS node id (default: ${role}-<host name>)`).env("GANTRY_NODE_ID"),
    ...xdsClientTlsOptions(),
  ];
}

export function defaultNodeId(role: string): string {
  return `${role}-${hostname()}`;
}

/** A port's TLS flags: `--tls-cert-file` and so on, or with a port's prefix (`--xds-tls-cert-file`). */
interface TlsFlagNames {
  cert: string;
  key: string;
  clientCa: string;
}

function tlsFlagNames(prefix: string): TlsFlagNames {
  const dash = prefix === "" ? "--" : `--${prefix}-`;
  return { cert: `${dash}tls-cert-file`, key: `${dash}tls-key-file`, clientCa: `${dash}tls-client-ca-file` };
}

/**
 * `--[prefix-]tls-cert-file`, `--[prefix-]tls-key-file` and (with `clientCa`) `--[prefix-]tls-client-ca-file`
 * for one port, each also read from GANTRY_[PREFIX_]TLS_*.
 */
export function tlsOptions(prefix: string, port: string, clientCa = true): Option[] {
  const names = tlsFlagNames(prefix);
  const env = `GANTRY_${prefix === "" ? "" : `${prefix.toUpperCase()}_`}TLS_`;
  const options = [
    new Option(`${names.cert} <file>`, `PEM certificate (chain) for the ${port} port: serve TLS`).env(
      `${env}CERT_FILE`,
    ),
    new Option(`${names.key} <file>`, `PEM private key of ${names.cert}`).env(`${env}KEY_FILE`),
  ];
  if (clientCa) {
    options.push(
      new Option(
        `${names.clientCa} <file>`,
        `PEM CA bundle: the ${port} port then requires client certificates it signed (mTLS)`,
      ).env(`${env}CLIENT_CA_FILE`),
    );
  }
  return options;
}

function camel(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The TLS files a port's flags name, checked now (readable, PEM, the key matches the certificate),
 * so that a bad file stops the command before any port opens; undefined when the port is plaintext.
 */
export function tlsFilesFromFlags(flags: object, prefix = ""): TlsFiles | undefined {
  const names = tlsFlagNames(prefix);
  const values = flags as Record<string, unknown>;
  const value = (flag: string) => {
    const v = values[camel(flag)];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const certFile = value(names.cert);
  const keyFile = value(names.key);
  const clientCaFile = value(names.clientCa);
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new Error(`${names.clientCa} needs ${names.cert} and ${names.key}`);
    return undefined;
  }
  if (certFile === undefined) throw new Error(`${names.key} needs ${names.cert}`);
  if (keyFile === undefined) throw new Error(`${names.cert} needs ${names.key}`);
  const files: TlsFiles = { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}), flags: names };
  loadTlsFiles(files);
  return files;
}

/** `--xds-ca-file`, `--xds-cert-file`, `--xds-key-file`: reaching a management server whose xDS port serves TLS. */
export function xdsClientTlsOptions(): Option[] {
  return [
    new Option("--xds-ca-file <file>", "PEM CA bundle that signed the xDS server's certificate: connect with TLS").env(
      "GANTRY_XDS_CA_FILE",
    ),
    new Option("--xds-cert-file <file>", "PEM client certificate, for an xDS server that requires one (mTLS)").env(
      "GANTRY_XDS_CERT_FILE",
    ),
    new Option("--xds-key-file <file>", "PEM private key of --xds-cert-file").env("GANTRY_XDS_KEY_FILE"),
  ];
}

/** The flags of `xdsFeedOptions`. */
export interface XdsFeedFlags {
  xdsServer?: string;
  nodeId?: string;
  xdsCaFile?: string;
  xdsCertFile?: string;
  xdsKeyFile?: string;
}

/** The xDS client TLS flags, or undefined for plaintext. */
export function xdsClientTlsFromFlags(flags: XdsFeedFlags): ClientTlsFiles | undefined {
  const { xdsCaFile, xdsCertFile, xdsKeyFile } = flags;
  if (xdsCaFile === undefined && xdsCertFile === undefined && xdsKeyFile === undefined) return undefined;
  if (flags.xdsServer === undefined)
    throw new Error("--xds-ca-file, --xds-cert-file and --xds-key-file need --xds-server");
  if ((xdsCertFile === undefined) !== (xdsKeyFile === undefined)) {
    throw new Error("--xds-cert-file and --xds-key-file go together: give both or neither");
  }
  if (xdsCertFile !== undefined && xdsKeyFile !== undefined) {
    loadTlsFiles({
      certFile: xdsCertFile,
      keyFile: xdsKeyFile,
      flags: { cert: "--xds-cert-file", key: "--xds-key-file", clientCa: "--xds-ca-file" },
    });
  }
  return {
    ...(xdsCaFile === undefined ? {} : { caFile: xdsCaFile }),
    ...(xdsCertFile === undefined ? {} : { certFile: xdsCertFile }),
    ...(xdsKeyFile === undefined ? {} : { keyFile: xdsKeyFile }),
  };
}

/** V8 cannot hold a string longer than about 512 MiB; a config file is read whole. */
const maxConfigFileBytes = 512 * 1024 * 1024;

function boundedInt(max: number): (value: string) => number {
  return (value) => {
    const n = parsePositiveInt(value);
    if (n > max) throw new InvalidArgumentError(`${n} is over the most allowed, ${max}`);
    return n;
  };
}

/** `--config-max-file-bytes` and `--config-max-documents`: bounds on each config file, checked before parsing. */
export function configLimitOptions(): Option[] {
  return [
    new Option("--config-max-file-bytes <bytes>", "a config file larger than this is refused, naming it, unread")
      .env("GANTRY_CONFIG_MAX_FILE_BYTES")
      .default(defaultFileLimits.maxFileBytes)
      .argParser(boundedInt(maxConfigFileBytes)),
    new Option("--config-max-documents <n>", "a config file with more YAML documents than this is refused, unparsed")
      .env("GANTRY_CONFIG_MAX_DOCUMENTS")
      .default(defaultFileLimits.maxDocuments)
      .argParser(boundedInt(10_000_000)),
  ];
}

export function configLimits(flags: { configMaxFileBytes: number; configMaxDocuments: number }): FileLimits {
  return { maxFileBytes: flags.configMaxFileBytes, maxDocuments: flags.configMaxDocuments };
}

/** What the tracing flags give. */
export interface TracingFlags {
  tracingEndpoint?: string;
  tracingSampleRatio: number;
}

function parseRatio(value: string): number {
  const ratio = Number(value);
  if (value.trim() === "" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new InvalidArgumentError(`"${value}" is not a ratio between 0 and 1`);
  }
  return ratio;
}

/** `--tracing-endpoint` and `--tracing-sample-ratio`: OpenTelemetry traces over OTLP/HTTP. */
export function tracingOptions(): Option[] {
  return [
    new Option(
      "--tracing-endpoint <url>",
      "export OpenTelemetry traces over OTLP/HTTP to this URL (e.g. http://collector:4318/v1/traces); off when unset",
    ).env("GANTRY_TRACING_ENDPOINT"),
    new Option(
      "--tracing-sample-ratio <ratio>",
      "fraction of traces started here that are kept (0..1); a caller's sampled flag is followed",
    )
      .env("GANTRY_TRACING_SAMPLE_RATIO")
      .default(0.01)
      .argParser(parseRatio),
  ];
}

/** Tracing options for a process named `service`, or undefined when tracing is off. */
export function tracingFromFlags(flags: TracingFlags, service: string): TracingOptions | undefined {
  if (flags.tracingEndpoint === undefined) return undefined;
  const options = { endpoint: flags.tracingEndpoint, sampleRatio: flags.tracingSampleRatio, serviceName: service };
  checkTracingOptions(options);
  return options;
}
