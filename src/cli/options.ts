import { hostname } from "node:os";
import { InvalidArgumentError, Option } from "commander";
import { defaultFileLimits, type FileLimits } from "../config/index.js";
import { type LogLevel, logLevels } from "../lib/logger.js";

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

export function redisUrlOption(description: string): Option {
  return new Option(
    "--redis-url <url>",
    `${description}; redis://host:port[/db], rediss:// (TLS), redis+sentinel://h:p,h:p/master, redis+cluster://h:p,h:p`,
  ).env("GANTRY_REDIS_URL");
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
  ];
}

export function defaultNodeId(role: string): string {
  return `${role}-${hostname()}`;
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
