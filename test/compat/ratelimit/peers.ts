import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import {
  type RateLimitRequest,
  RateLimitRequestSchema,
  type RateLimitResponse,
  RateLimitResponse_Code,
  RateLimitService,
} from "../../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { createClient, GrpcStatus } from "../../../src/lib/index.js";
import { freePorts, isListening } from "../../support/ports.js";
import { type ManagedProcess, startProcess } from "../../support/process.js";

const gantryBin = fileURLToPath(new URL("../../../bin/gantry.js", import.meta.url));

/** What one ShouldRateLimit call got, reduced to what a client can observe and compare. */
export type Observed =
  | {
      readonly overallCode: string;
      readonly statuses: ReadonlyArray<{
        readonly code: string;
        readonly currentLimit?: { readonly name: string; readonly unit: number; readonly requestsPerUnit: number };
        readonly limitRemaining: number;
        readonly durationUntilReset?: number;
      }>;
      readonly headers: ReadonlyArray<readonly [string, string]>;
    }
  | { readonly grpcError: string };

/** A rate-limit server under test: envoyproxy/ratelimit's service_cmd or `gantry ratelimit`. */
export interface RlsPeer {
  readonly name: string;
  call(request: RateLimitRequest): Promise<Observed>;
  /** The gRPC status code and message a call failed with, or undefined when it was answered. */
  failure(request: RateLimitRequest): Promise<{ readonly code: string; readonly message: string } | undefined>;
  health(service: string): Promise<string>;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export function observe(response: RateLimitResponse): Observed {
  return {
    overallCode: RateLimitResponse_Code[response.overallCode] ?? String(response.overallCode),
    statuses: response.statuses.map((s) => ({
      code: RateLimitResponse_Code[s.code] ?? String(s.code),
      ...(s.currentLimit
        ? {
            currentLimit: {
              name: s.currentLimit.name,
              unit: s.currentLimit.unit,
              requestsPerUnit: s.currentLimit.requestsPerUnit,
            },
          }
        : {}),
      limitRemaining: s.limitRemaining,
      ...(s.durationUntilReset ? { durationUntilReset: Number(s.durationUntilReset.seconds) } : {}),
    })),
    headers: response.responseHeadersToAdd.map((h) => [h.key, h.value] as const),
  };
}

function clientFor(name: string, port: number, proc: () => ManagedProcess): RlsPeer {
  const address = `127.0.0.1:${port}`;
  const rls = createClient(RateLimitService, address);
  const health = createClient(Health, address);
  return {
    name,
    get process() {
      return proc();
    },
    async call(request) {
      try {
        return observe(await rls.shouldRateLimit(request, { timeoutMs: 5_000 }));
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (typeof code !== "number") throw err;
        return { grpcError: GrpcStatus[code] ?? String(code) };
      }
    },
    async failure(request) {
      try {
        await rls.shouldRateLimit(request, { timeoutMs: 5_000 });
        return undefined;
      } catch (err) {
        const { code, details } = err as { code?: number; details?: string };
        if (typeof code !== "number") throw err;
        return { code: GrpcStatus[code] ?? String(code), message: details ?? "" };
      }
    },
    async health(service) {
      try {
        const answer = await health.check({ service }, { timeoutMs: 5_000 });
        return ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][answer.status] ?? String(answer.status);
      } catch (err) {
        const code = (err as { code?: number }).code;
        return GrpcStatus[code ?? 2] ?? String(code);
      }
    },
    async stop() {
      rls.close();
      health.close();
      await proc().stop();
    },
  };
}

/** A request that matches nothing: answered once a server is up with some config. */
const probe = create(RateLimitRequestSchema, {
  domain: "probe",
  descriptors: [{ entries: [{ key: "k", value: "v" }] }],
});

/** The peers' common settings: same Redis, response headers on, the same header names. */
export interface PeerOptions {
  /** Where envoyproxy/ratelimit finds its files: `<root>/ratelimit/config/*.yaml` (Gantry reads that folder). */
  readonly root: string;
  /** Instead of the files: the management server's xDS address (`host:port`). */
  readonly xdsServer?: string;
  readonly redisPort: number;
  /** Keeps counters of different servers apart on one Redis (or together, for a mixed fleet). */
  readonly keyPrefix: string;
  /** Anchor environment / Gantry flags beyond the common ones. */
  readonly env?: Record<string, string>;
  readonly args?: string[];
  /** Default: a call answers (the server is up with its config). */
  readonly ready?: (peer: RlsPeer) => Promise<boolean>;
}

export function configFolder(root: string): string {
  return join(root, "ratelimit", "config");
}

export function writeConfigs(root: string, files: Record<string, string>): void {
  mkdirSync(configFolder(root), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(configFolder(root), name), text);
}

async function isUp(peer: RlsPeer): Promise<boolean> {
  const answer = await peer.call(probe);
  // An error names itself as the wait's last error, should the server never come up.
  if ("grpcError" in answer) throw new Error(`a probe call got ${answer.grpcError}`);
  return true;
}

export async function startAnchor(command: string, options: PeerOptions): Promise<RlsPeer> {
  const [grpcPort, httpPort, debugPort] = await freePorts(3);
  let proc: ManagedProcess | undefined;
  const peer = clientFor("envoyproxy/ratelimit", grpcPort, () => proc as ManagedProcess);
  proc = await startProcess({
    name: "envoyproxy/ratelimit",
    command,
    args: [],
    env: {
      PATH: process.env["PATH"] ?? "",
      ...(options.xdsServer === undefined
        ? {}
        : {
            CONFIG_TYPE: "GRPC_XDS_SOTW",
            CONFIG_GRPC_XDS_SERVER_URL: options.xdsServer,
            CONFIG_GRPC_XDS_NODE_ID: `anchor-${grpcPort}`,
            CONFIG_GRPC_XDS_NODE_METADATA: "role=ratelimit",
            CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL: "200ms",
          }),
      RUNTIME_ROOT: options.root,
      RUNTIME_SUBDIRECTORY: "ratelimit",
      RUNTIME_APPDIRECTORY: "config",
      RUNTIME_WATCH_ROOT: "false",
      RUNTIME_IGNOREDOTFILES: "true",
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: `127.0.0.1:${options.redisPort}`,
      CACHE_KEY_PREFIX: options.keyPrefix,
      LIMIT_RESPONSE_HEADERS_ENABLED: "true",
      USE_STATSD: "false",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      PORT: String(httpPort),
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      DEBUG_HOST: "127.0.0.1",
      DEBUG_PORT: String(debugPort),
      ...options.env,
    },
    ready: async () => (await isListening(grpcPort)) && (options.ready ?? isUp)(peer),
    readyTimeoutMs: 30_000,
  });
  return peer;
}

export async function startGantry(options: PeerOptions): Promise<RlsPeer> {
  const [grpcPort, metricsPort] = await freePorts(2);
  let proc: ManagedProcess | undefined;
  const peer = clientFor("gantry ratelimit", grpcPort, () => proc as ManagedProcess);
  proc = await startProcess({
    name: "gantry ratelimit",
    command: process.execPath,
    args: [
      gantryBin,
      "ratelimit",
      "--host",
      "127.0.0.1",
      "--grpc-port",
      String(grpcPort),
      "--metrics-port",
      String(metricsPort),
      ...(options.xdsServer === undefined
        ? ["--config-dir", configFolder(options.root)]
        : ["--xds-server", options.xdsServer, "--node-id", `gantry-${grpcPort}`]),
      "--redis-url",
      `redis://127.0.0.1:${options.redisPort}`,
      "--redis-key-prefix",
      options.keyPrefix,
      "--response-headers",
      "--log-level",
      "warn",
      ...(options.args ?? []),
    ],
    env: { PATH: process.env["PATH"] ?? "" },
    ready: async () => (await isListening(grpcPort)) && (options.ready ?? isUp)(peer),
    readyTimeoutMs: 30_000,
  });
  return peer;
}
