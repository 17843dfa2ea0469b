import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { systemClock, type Timers } from "./clock.js";
import type { Logger } from "./logger.js";

export type RedisClient = Redis | Cluster;

interface HostPort {
  host: string;
  port: number;
}

/** Files for a `rediss://` connection, from the URL's query (`tls_ca_file`, `tls_cert_file`, `tls_key_file`). */
export interface RedisTlsFiles {
  /** CA bundle that signed the Redis server's certificate; default the system's CAs. */
  caFile?: string;
  /** A client certificate and key, for a Redis that requires them (`tls-auth-clients yes`). */
  certFile?: string;
  keyFile?: string;
}

interface Credentials {
  username?: string;
  password?: string;
  tls: boolean;
  tlsFiles?: RedisTlsFiles;
}

/**
 * Where a Redis is, parsed from one URL:
 * - `redis://[user:pass@]host[:port][/db]` (or `rediss://` for TLS): a single node
 * - `redis+sentinel://[user:pass@]host:port[,host:port...]/masterName[/db]`: through Sentinel
 * - `redis+cluster://[user:pass@]host:port[,host:port...]`: a Redis Cluster, from its seed nodes
 * A TLS URL may end in `?tls_ca_file=PATH&tls_cert_file=PATH&tls_key_file=PATH`.
 */
export type RedisTarget =
  | ({ kind: "single"; node: HostPort; db: number } & Credentials)
  | ({ kind: "sentinel"; sentinels: HostPort[]; masterName: string; db: number } & Credentials)
  | ({ kind: "cluster"; nodes: HostPort[] } & Credentials);

export class RedisUrlError extends Error {
  constructor(url: string, problem: string) {
    super(`invalid Redis URL "${redactUrl(url)}": ${problem}`);
    this.name = "RedisUrlError";
  }
}

/** The URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}

function parseHosts(url: string, text: string): HostPort[] {
  if (text === "") throw new RedisUrlError(url, "no host");
  return text.split(",").map((hostPort) => {
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
    if (!match?.[1]) throw new RedisUrlError(url, `"${hostPort}" is not host[:port]`);
    const port = match[2] === undefined ? 6379 : Number(match[2]);
    if (port < 1 || port > 65535) throw new RedisUrlError(url, `port ${port} is out of range`);
    return { host: match[1].replace(/^\[|\]$/g, ""), port };
  });
}

function parseDb(url: string, text: string | undefined): number {
  if (text === undefined || text === "") return 0;
  if (!/^\d+$/.test(text)) throw new RedisUrlError(url, `database "${text}" is not a number`);
  return Number(text);
}

const tlsParameters: Record<string, keyof RedisTlsFiles> = {
  tls_ca_file: "caFile",
  tls_cert_file: "certFile",
  tls_key_file: "keyFile",
};

function parseTlsFiles(url: string, query: string | undefined, tls: boolean): RedisTlsFiles | undefined {
  if (query === undefined || query === "") return undefined;
  const files: RedisTlsFiles = {};
  for (const [name, value] of new URLSearchParams(query)) {
    const field = tlsParameters[name];
    if (field === undefined) {
      throw new RedisUrlError(url, `unknown parameter "${name}" (known: ${Object.keys(tlsParameters).join(", ")})`);
    }
    if (value === "") throw new RedisUrlError(url, `${name} is empty`);
    files[field] = value;
  }
  if (!tls)
    throw new RedisUrlError(url, "TLS files need a TLS scheme (rediss://, rediss+sentinel://, rediss+cluster://)");
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new RedisUrlError(url, "tls_cert_file and tls_key_file go together");
  }
  return files;
}

export function parseRedisUrl(url: string): RedisTarget {
  // The query starts at the first "?" after the user info: a password may hold one.
  const match = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(url);
  if (!match) throw new RedisUrlError(url, "expected scheme://[user:password@]host:port[/...]");
  const [, scheme, userInfo, hostsText = "", pathText, query] = match;
  const tls = scheme === "rediss" || scheme === "rediss+sentinel" || scheme === "rediss+cluster";
  const tlsFiles = parseTlsFiles(url, query, tls);
  const credentials: Credentials = { tls, ...(tlsFiles ? { tlsFiles } : {}) };
  if (userInfo) {
    const colon = userInfo.indexOf(":");
    const username = decodeURIComponent(colon < 0 ? userInfo : userInfo.slice(0, colon));
    if (username) credentials.username = username;
    if (colon >= 0) credentials.password = decodeURIComponent(userInfo.slice(colon + 1));
  }
  const hosts = parseHosts(url, hostsText);
  const path = pathText === undefined || pathText === "" ? [] : pathText.split("/");
  switch (scheme) {
    case "redis":
    case "rediss": {
      if (hosts.length !== 1) throw new RedisUrlError(url, "a single-node URL names one host");
      if (path.length > 1) throw new RedisUrlError(url, "expected at most /db after the host");
      return { kind: "single", node: hosts[0] as HostPort, db: parseDb(url, path[0]), ...credentials };
    }
    case "redis+sentinel":
    case "rediss+sentinel": {
      const masterName = path[0];
      if (!masterName) throw new RedisUrlError(url, "a Sentinel URL needs the master name: /masterName");
      if (path.length > 2) throw new RedisUrlError(url, "expected /masterName[/db] after the hosts");
      return { kind: "sentinel", sentinels: hosts, masterName, db: parseDb(url, path[1]), ...credentials };
    }
    case "redis+cluster":
    case "rediss+cluster":
      if (path.length > 0) throw new RedisUrlError(url, "a Cluster URL has no path (Redis Cluster has only db 0)");
      return { kind: "cluster", nodes: hosts, ...credentials };
    default:
      throw new RedisUrlError(url, `unknown scheme "${scheme}" (use redis, rediss, redis+sentinel or redis+cluster)`);
  }
}

export interface RedisConnectionOptions {
  url: string;
  /** Bound on establishing a connection. Default 2,000 ms. */
  connectTimeoutMs?: number;
  /**
   * Bound on every command, including commands queued while disconnected. Services on the request
   * path set this low (tens of ms) so that a dead Redis costs a bounded wait, never a hang.
   * Default 1,000 ms. 0 disables it: only for pub/sub connections, which wait idle by design.
   */
  commandTimeoutMs?: number;
  /** Prefix for every key; keeps services apart when they share a Redis. */
  keyPrefix?: string;
  /** Name shown in logs and CLIENT LIST. */
  connectionName?: string;
  logger?: Logger;
  /** Extra ioredis options (TLS material, for example). */
  redisOptions?: RedisOptions;
}

function readTlsFile(url: string, parameter: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RedisUrlError(
      url,
      `${parameter} ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
}

/** The TLS options of a connection to `target` (read now, so that a missing file is an error at once). */
export function redisTlsOptions(url: string, target: RedisTarget): ConnectionOptions | undefined {
  if (!target.tls) return undefined;
  const files = target.tlsFiles ?? {};
  return {
    ...(files.caFile ? { ca: readTlsFile(url, "tls_ca_file", files.caFile) } : {}),
    ...(files.certFile ? { cert: readTlsFile(url, "tls_cert_file", files.certFile) } : {}),
    ...(files.keyFile ? { key: readTlsFile(url, "tls_key_file", files.keyFile) } : {}),
  };
}

/** Reconnects back off from 50 ms to at most 2 s, forever: Redis coming back must heal the service. */
function retryDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2_000);
}

/** Connects to the Redis the URL names (single node, Sentinel or Cluster) with bounded timeouts. */
export function createRedis(options: RedisConnectionOptions): RedisClient {
  const target = parseRedisUrl(options.url);
  const tls = redisTlsOptions(options.url, target);
  const commandTimeout = options.commandTimeoutMs ?? 1_000;
  const common: RedisOptions = {
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    ...(commandTimeout > 0 ? { commandTimeout } : {}),
    maxRetriesPerRequest: 1,
    retryStrategy: retryDelay,
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(tls ? { tls } : {}),
    ...options.redisOptions,
  };
  let client: RedisClient;
  switch (target.kind) {
    case "single":
      client = new Redis({ ...common, host: target.node.host, port: target.node.port, db: target.db });
      break;
    case "sentinel":
      client = new Redis({
        ...common,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        // rediss+sentinel: the Sentinels speak TLS too, with the same CA and client certificate.
        ...(tls ? { sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      });
      break;
    case "cluster": {
      const { keyPrefix, ...redisOptions } = common;
      const clusterOptions: ClusterOptions = {
        redisOptions,
        clusterRetryStrategy: retryDelay,
        slotsRefreshTimeout: options.connectTimeoutMs ?? 2_000,
        ...(keyPrefix === undefined ? {} : { keyPrefix }),
      };
      client = new Cluster(target.nodes, clusterOptions);
      break;
    }
  }
  const logger = options.logger;
  if (logger) {
    const where = redactUrl(options.url);
    let down = false;
    client.on("error", (err: Error) => {
      if (!down) logger.warn({ err: err.message, redis: where }, "redis connection error");
      down = true;
    });
    client.on("ready", () => {
      if (down) logger.info({ redis: where }, "redis connection restored");
      down = false;
    });
  } else {
    // An 'error' listener must exist or ioredis reports errors as unhandled.
    client.on("error", () => {});
  }
  return client;
}

/** Resolves when the client is ready, or rejects after `timeoutMs` on `clock`. */
export async function waitForRedis(client: RedisClient, timeoutMs = 5_000, clock: Timers = systemClock): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      timer.cancel();
      resolve();
    };
    client.once("ready", onReady);
  });
}
