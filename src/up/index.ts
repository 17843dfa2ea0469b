import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type ExtAuthServer, startExtAuthServer } from "../extauth/index.js";
import { followAuthConfigs, followRateLimitConfigs } from "../feeds/index.js";
import { scrapeSource } from "../insights/index.js";
import {
  createLogger,
  createRegistry,
  type LogLevel,
  startTelemetryServer,
  systemClock,
  type TelemetryServer,
} from "../lib/index.js";
import { type RateLimitServer, startRateLimitServer } from "../ratelimit/index.js";
import { type ManagementServer, startManagementServer } from "../server/index.js";
import { MemoryStore } from "../store/index.js";

/** The resources `gantry up` loads when no folder is given: every feature example, side by side. */
export const defaultExamples = fileURLToPath(new URL("../../examples/features", import.meta.url));

export interface UpOptions {
  host: string;
  configDir: string;
  ports: {
    xds: number;
    api: number;
    metrics: number;
    extauth: number;
    extauthMetrics: number;
    ratelimit: number;
    ratelimitMetrics: number;
  };
  /** The API token; a random one is made when not given. */
  apiToken?: string;
  logLevel: LogLevel;
}

export interface Stack {
  readonly apiToken: string;
  readonly ports: UpOptions["ports"];
  readonly server: ManagementServer;
  readonly extauth: ExtAuthServer;
  readonly ratelimit: RateLimitServer;
  stop(): Promise<void>;
}

/**
 * Everything in one process on embedded defaults: the management server (in-memory store, the
 * example resources), and the ext-auth and rate-limit servers (in-memory counters) taking their
 * config from it over xDS on loopback, exactly as separate processes would.
 */
export async function startStack(options: UpOptions): Promise<Stack> {
  const { host } = options;
  const loggerFor = (service: string) => createLogger({ service, level: options.logLevel });
  const logger = loggerFor("up");
  const apiToken = options.apiToken ?? randomBytes(24).toString("base64url");
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse())
      await stop().catch((err: unknown) => logger.error({ err }, "stopping failed"));
  };
  try {
    const store = new MemoryStore();
    const extauth = await startExtAuthServer({
      host,
      grpcPort: options.ports.extauth,
      metricsPort: options.ports.extauthMetrics,
      logger: loggerFor("extauth"),
    });
    started.push(() => extauth.stop());
    const ratelimit = await startRateLimitServer({
      host,
      grpcPort: options.ports.ratelimit,
      metricsPort: options.ports.ratelimitMetrics,
      logger: loggerFor("ratelimit"),
    });
    started.push(() => ratelimit.stop());
    const registry = createRegistry("server");
    const server = await startManagementServer({
      store,
      host,
      xdsPort: options.ports.xds,
      apiPort: options.ports.api,
      apiToken,
      configDir: options.configDir,
      translate: {
        extAuth: { host: "127.0.0.1", port: extauth.grpcPort },
        rateLimit: { host: "127.0.0.1", port: ratelimit.grpcPort },
      },
      logger: loggerFor("server"),
      registry,
      serverName: "gantry-up",
      // The data-plane insights read the services' own counters from their metrics ports.
      insights: {
        metrics: scrapeSource(
          [extauth.metricsPort, ratelimit.metricsPort].map((port) => `http://${localHost(host)}:${port}/metrics`),
          () => systemClock.now(),
        ),
      },
    });
    started.push(() => server.stop());
    const telemetry: TelemetryServer = await startTelemetryServer({
      registry,
      host,
      port: options.ports.metrics,
      logger,
      readiness: () => (server.ready ? { ready: true } : { ready: false, reason: "no translation published yet" }),
    });
    started.push(() => telemetry.close());
    const xds = `127.0.0.1:${server.xdsPort}`;
    const feeds = [
      followAuthConfigs(extauth, {
        server: xds,
        nodeId: "gantry-up-extauth",
        logger: loggerFor("extauth"),
      }),
      followRateLimitConfigs(ratelimit, {
        server: xds,
        nodeId: "gantry-up-ratelimit",
        logger: loggerFor("ratelimit"),
      }),
    ];
    started.push(async () => {
      for (const feed of feeds) await feed.stop();
    });
    return {
      apiToken,
      ports: {
        xds: server.xdsPort,
        api: server.apiPort,
        metrics: telemetry.port,
        extauth: extauth.grpcPort,
        extauthMetrics: extauth.metricsPort,
        ratelimit: ratelimit.grpcPort,
        ratelimitMetrics: ratelimit.metricsPort,
      },
      server,
      extauth,
      ratelimit,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Where this process reaches a port it bound on `host`. */
function localHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Whether `host` is reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/**
 * `gantry up` is one process for one machine: none of its seven ports has TLS (the separate
 * `server`, `extauth` and `ratelimit` commands have TLS on every port). Bound beyond loopback,
 * it says so before anything listens; undefined on loopback.
 */
export function exposureWarning(host: string): string | undefined {
  if (isLoopback(host)) return undefined;
  return `warning: --host ${host} exposes gantry up beyond this machine, and none of its ports has TLS (the API token and all config cross in plaintext); gantry up is for one machine: run gantry server, gantry extauth and gantry ratelimit with their --*-tls-* flags to serve a network\n`;
}

/** What `gantry up` prints: what runs where, and how to use it. */
export function describeStack(stack: Stack, host: string, configDir: string): string {
  const p = stack.ports;
  const at = host === "0.0.0.0" ? "127.0.0.1" : host;
  return `Gantry is up: every service in this process, in-memory stores, resources from ${configDir}

  management API   http://${at}:${p.api}          gantry apply / get / describe / delete
  dashboard        http://${at}:${p.api}/ui/      sign in with the token below (docs/ui.md)
  xDS (ADS)        ${at}:${p.xds}               Envoy gateways, sidecars, grpc-js-xds clients
  ext-auth         ${at}:${p.extauth}                Envoy ext_authz (gRPC), config from xDS
  rate limit       ${at}:${p.ratelimit}                Envoy rate limit (gRPC), config from xDS
  metrics          http://${at}:${p.metrics}/metrics   (ext-auth :${p.extauthMetrics}, rate limit :${p.ratelimitMetrics})

Try it:
  export GANTRY_API_TOKEN=${stack.apiToken}
  npx gantry get gateways
  npx gantry get proxies

Connect an Envoy (each example gateway selects proxies by a label, e.g. gateway=basic):
  npx gantry bootstrap --node-id gw-1 --role gateway --labels gateway=basic --xds-address ${at}:${p.xds} > envoy.yaml
  envoy -c envoy.yaml

Ctrl-C stops everything.
`;
}
