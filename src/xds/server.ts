import { create } from "@bufbuild/protobuf";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { TypeUrl } from "../envoy/index.js";
import { ClusterDiscoveryService } from "../gen/envoy/service/cluster/v3/cds_pb.js";
import { AggregatedDiscoveryService } from "../gen/envoy/service/discovery/v3/ads_pb.js";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { EndpointDiscoveryService } from "../gen/envoy/service/endpoint/v3/eds_pb.js";
import { ListenerDiscoveryService } from "../gen/envoy/service/listener/v3/lds_pb.js";
import { RouteDiscoveryService } from "../gen/envoy/service/route/v3/rds_pb.js";
import { SecretDiscoveryService } from "../gen/envoy/service/secret/v3/sds_pb.js";
import { type Clock, systemClock, type Timers } from "../lib/clock.js";
import {
  GrpcError,
  GrpcServer,
  type GrpcServerOptions,
  GrpcStatus,
  toServiceError,
  writeEncoded,
} from "../lib/grpc.js";
import { ServerLimits } from "../lib/h2/server-limits.js";
import { HealthService, ServingStatus } from "../lib/health.js";
import type { Logger } from "../lib/logger.js";
import type { Registry } from "../lib/metrics.js";
import { type LimitedResource, serverLimitMetrics } from "../lib/server-limit-metrics.js";
import type { TlsFileWatch } from "../lib/tls.js";
import { AckLedger, type AckTable, type ClientResourceStatus, type CurrentResources } from "./ack-ledger.js";
import type { SnapshotCache } from "./cache.js";
import { DeltaStream } from "./delta.js";
import { ResponseEncodings } from "./encoding.js";
import { Holdings } from "./holdings.js";
import { combineHooks, type StreamInfo, type XdsHooks } from "./hooks.js";
import { XdsMetrics } from "./metrics.js";
import { Selections } from "./selections.js";
import { SotwStream } from "./sotw.js";
import { type ProxyStatus, ProxyStatusBoard } from "./status.js";
import type { StreamContext, StreamTransport } from "./stream.js";
import { WriteBudget } from "./write-budget.js";

export const defaultXdsPort = 18000;

export interface XdsServerOptions {
  cache: SnapshotCache;
  host?: string;
  /** 18000 by default; 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Where the xDS metrics go (connected proxies, pushes, NACKs, convergence time). */
  registry?: Registry;
  clock?: Clock;
  /** Extra hooks, called after proxy status and metrics. */
  hooks?: XdsHooks;
  /**
   * SotW responses of types that may be partial (EDS, RDS and any type but LDS and CDS) carry only
   * the resources that changed for the client, as Envoy and gRPC accept; `false` always sends the
   * whole subscribed set. Default true.
   */
  partialSotwUpdates?: boolean;
  /** grpc-js channel options for the server. */
  channelOptions?: GrpcServerOptions["channelOptions"];
  /** Serve xDS over TLS (mTLS with a client CA), with the certificates this watch holds; stopped with the server. */
  tls?: TlsFileWatch;
  /** Bounds across all client connections: connections (GOAWAY beyond) and xDS streams (UNAVAILABLE beyond). */
  limits?: XdsLimits;
}

export interface XdsLimits {
  /** Open client connections, at most. Default 10,000. */
  maxConnections?: number;
  /** xDS streams open across all connections, at most. Default 10,000. */
  maxTotalStreams?: number;
  /**
   * One request message, at most, in bytes: grpc-js holds a message whole until it is complete, so
   * this is what one stream can make the server hold. Default 4 MiB; beyond it, RESOURCE_EXHAUSTED.
   */
  maxRequestBytes?: number;
  /** Streams open on one connection, at most (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
  maxStreamsPerConnection?: number;
  /**
   * Response bytes encoded and not yet written, across every stream: beyond it, streams wait in line
   * before they encode more (write-budget.ts). Default 64 MiB; Infinity: no budget.
   */
  maxBufferedBytes?: number;
  /** A client that wrote nothing out this long while others wait for the budget loses its connection. Default 30 s. */
  writeStallMs?: number;
}

/** The per-request, per-connection and byte bounds when not given (XdsLimits). */
export const defaultXdsRequestLimits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxStreamsPerConnection: 100,
  maxBufferedBytes: 64 * 1024 * 1024,
  writeStallMs: 30_000,
};

export interface XdsServer {
  readonly port: number;
  /**
   * The gRPC health service on the xDS port (grpc.health.v1), for Envoy's gRPC health checks of its
   * xDS cluster and for probes: the whole server and ADS are SERVING until stop() drains them.
   */
  readonly health: HealthService;
  /** Every connected proxy: node, stream kind, versions and nonces sent and ACKed, last NACK. */
  proxyStatus(): ProxyStatus[];
  /**
   * Per client (node id, over all its streams) and resource it subscribed to: in sync, pending or
   * NACKed, against the snapshot it is served now.
   */
  ackTable(): AckTable;
  /** The rows of `ackTable()` that are pending or NACKed, without building the rest (for the proxy analyzers). */
  ackUnsettled(): ClientResourceStatus[];
  /** Closes every stream and stops listening. */
  stop(graceMs?: number): Promise<void>;
}

type Stream = SotwStream | DeltaStream;
type Call<I, O> = ServerDuplexStream<I, O>;

/** What the xDS services report about their clients: per stream, and per client and resource. */
export interface XdsStatus {
  readonly board: ProxyStatusBoard;
  readonly acks: AckLedger;
  /** Response bytes encoded and not yet written, across every stream. */
  readonly budget: WriteBudget;
}

/** Serves what `context.cache` holds over ADS and the per-type services; returns where clients stand. */
export function addXdsServices(
  server: GrpcServer,
  options: Pick<
    XdsServerOptions,
    "cache" | "logger" | "registry" | "clock" | "hooks" | "partialSotwUpdates" | "limits"
  >,
  limits: ServerLimits = ServerLimits.unbounded(),
): XdsStatus {
  const clock = options.clock ?? systemClock;
  // The stall check needs timers: the given clock's when it has them (a test's ManualClock), else Node's.
  const timers: Timers = "setInterval" in clock ? (clock as Timers) : systemClock;
  const metrics = options.registry ? new XdsMetrics(options.registry) : undefined;
  const budget = new WriteBudget({
    maxBytes: options.limits?.maxBufferedBytes ?? defaultXdsRequestLimits.maxBufferedBytes,
    stallMs: options.limits?.writeStallMs ?? defaultXdsRequestLimits.writeStallMs,
    clock: timers,
    onWait: () => limits.pushedBack("buffered_bytes"),
    onStalled: () => metrics?.stalled(),
  });
  const board = new ProxyStatusBoard();
  const acks = new AckLedger();
  const hooks: XdsHooks[] = [board, acks];
  if (options.logger) hooks.push(loggingHooks(options.logger));
  if (metrics) hooks.push(metrics);
  if (options.hooks) hooks.push(options.hooks);
  const context: StreamContext = {
    cache: options.cache,
    hooks: combineHooks(...hooks),
    clock,
    logger: options.logger,
    partialSotwUpdates: options.partialSotwUpdates ?? true,
    holdings: new Holdings(),
    selections: new Selections(),
    encodings: new ResponseEncodings(),
    budget,
  };
  const transport = <I, O>(call: Call<I, O>): StreamTransport => ({
    write: (parts, done) => writeEncoded(call, parts, done),
    drop: () => {
      // Without its own sockets the server can only end the call (behind what it has not written).
      if (!server.dropConnection(call.getPeer())) call.emit("error", stalledError(context, call.getPath()));
    },
  });
  const sotw = (typeUrl: string | undefined) => (call: Call<DiscoveryRequest, DiscoveryResponse>) => {
    if (!admitted(call, limits, context)) return;
    serve(call, new SotwStream(context, call.getPeer(), typeUrl, transport(call), bearerOf(call)), context);
  };
  const delta = (typeUrl: string | undefined) => (call: Call<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
    if (!admitted(call, limits, context)) return;
    serve(call, new DeltaStream(context, call.getPeer(), typeUrl, transport(call), bearerOf(call)), context);
  };
  const fetch = (typeUrl: string) => (request: DiscoveryRequest) => fetchResources(options.cache, typeUrl, request);
  server.add(AggregatedDiscoveryService, {
    streamAggregatedResources: sotw(undefined),
    deltaAggregatedResources: delta(undefined),
  });
  server.add(ClusterDiscoveryService, {
    streamClusters: sotw(TypeUrl.cluster),
    deltaClusters: delta(TypeUrl.cluster),
    fetchClusters: fetch(TypeUrl.cluster),
  });
  server.add(EndpointDiscoveryService, {
    streamEndpoints: sotw(TypeUrl.endpoint),
    deltaEndpoints: delta(TypeUrl.endpoint),
    fetchEndpoints: fetch(TypeUrl.endpoint),
  });
  server.add(ListenerDiscoveryService, {
    streamListeners: sotw(TypeUrl.listener),
    deltaListeners: delta(TypeUrl.listener),
    fetchListeners: fetch(TypeUrl.listener),
  });
  server.add(RouteDiscoveryService, {
    streamRoutes: sotw(TypeUrl.route),
    deltaRoutes: delta(TypeUrl.route),
    fetchRoutes: fetch(TypeUrl.route),
  });
  server.add(SecretDiscoveryService, {
    streamSecrets: sotw(TypeUrl.secret),
    deltaSecrets: delta(TypeUrl.secret),
    fetchSecrets: fetch(TypeUrl.secret),
  });
  return { board, acks, budget };
}

function stalledError(context: StreamContext, path: string) {
  const error = new GrpcError(GrpcStatus.RESOURCE_EXHAUSTED, "the client did not read its xDS responses");
  return toServiceError(error, context.logger, path);
}

/** The bearer token of a call's `authorization` metadata (Envoy's grpc_service initial_metadata sets it), if any. */
function bearerOf<I, O>(call: Call<I, O>): string | undefined {
  const value = call.metadata.get("authorization")[0];
  if (typeof value !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** Streams coming and going at debug level; NACKs as warnings, since a proxy is running old config. */
function loggingHooks(logger: Logger): XdsHooks {
  const who = (stream: StreamInfo) => ({
    node: stream.node.id,
    stream: stream.id,
    kind: stream.kind,
    peer: stream.peer,
  });
  return {
    onStreamOpen: (stream) => logger.debug(who(stream), "xDS stream opened"),
    onStreamClose: (stream) => logger.debug(who(stream), "xDS stream closed"),
    onNack: (stream, nack) =>
      logger.warn(
        { ...who(stream), typeUrl: nack.push.typeUrl, version: nack.push.version, error: nack.error },
        "proxy rejected config",
      ),
  };
}

/**
 * Counts a new stream against the server's total; over it the stream ends at once with UNAVAILABLE, which
 * Envoy and gRPC clients retry with back-off (on this server later, or on another).
 */
function admitted<I, O>(call: Call<I, O>, limits: ServerLimits, context: StreamContext): boolean {
  if (!limits.admitStream()) {
    const limit = new GrpcError(GrpcStatus.UNAVAILABLE, `xDS stream limit reached (${limits.maxStreams} streams)`);
    call.emit("error", toServiceError(limit, context.logger, call.getPath()));
    return false;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    limits.releaseStream();
  };
  call.on("close", release);
  call.on("cancelled", release);
  call.on("error", release);
  call.on("finish", release);
  return true;
}

function serve<I extends DiscoveryRequest | DeltaDiscoveryRequest, O>(
  call: Call<I, O>,
  stream: Stream,
  context: StreamContext,
): void {
  const close = () => stream.close();
  call.on("data", (request: I) => {
    if (stream.closed) return;
    try {
      (stream.handle as (request: I) => void)(request);
    } catch (err) {
      stream.close();
      // Emitting the error ends the call with its status; one bad stream never touches the others.
      call.emit("error", toServiceError(err, context.logger, call.getPath()));
    }
  });
  call.on("end", () => {
    close();
    call.end();
  });
  call.on("cancelled", close);
  call.on("error", close);
  call.on("close", close);
}

/** The unary Fetch methods: the resources a node should have now, as one SotW response. */
function fetchResources(cache: SnapshotCache, typeUrl: string, request: DiscoveryRequest): DiscoveryResponse {
  if (!request.node) throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "a fetch request must carry node");
  const published = cache.snapshot(cache.groupOf(request.node));
  if (!published) throw new GrpcError(GrpcStatus.UNAVAILABLE, `no configuration for node "${request.node.id}" yet`);
  const all = published.snapshot.resources(typeUrl);
  const names = request.resourceNames.filter((name) => name !== "*");
  const resources = names.length === 0 ? [...all.values()] : names.flatMap((name) => all.get(name) ?? []);
  return create(DiscoveryResponseSchema, {
    versionInfo: published.snapshot.version(typeUrl),
    typeUrl,
    resources: resources.map((resource) => ({ typeUrl: resource.typeUrl, value: resource.value })),
  });
}

/** Starts a gRPC server serving xDS from `cache` (port 18000 unless told). */
export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const grpcOptions: GrpcServerOptions = {};
  if (options.logger) grpcOptions.logger = options.logger;
  // What one connection can make the server hold: its streams times one request each.
  grpcOptions.channelOptions = {
    "grpc.max_receive_message_length": options.limits?.maxRequestBytes ?? defaultXdsRequestLimits.maxRequestBytes,
    "grpc.max_concurrent_streams":
      options.limits?.maxStreamsPerConnection ?? defaultXdsRequestLimits.maxStreamsPerConnection,
    ...options.channelOptions,
  };
  const registry = options.registry;
  let onLimit: ((bound: LimitedResource) => void) | undefined;
  const limits = new ServerLimits({
    ...(options.limits?.maxConnections === undefined ? {} : { maxConnections: options.limits.maxConnections }),
    ...(options.limits?.maxTotalStreams === undefined ? {} : { maxStreams: options.limits.maxTotalStreams }),
    // grpc-js holds what it reads per connection (its own HTTP/2 session), bounded by the request and
    // stream bounds; the byte budget here is the responses' (XdsLimits.maxBufferedBytes, in addXdsServices).
    maxBufferedBytes: Infinity,
    onLimit: (bound) => onLimit?.(bound),
  });
  let budget: WriteBudget | undefined;
  if (registry) {
    onLimit = serverLimitMetrics(registry, () => ({
      connections: limits.connections,
      streams: limits.streams,
      buffered_bytes: budget?.bufferedBytes ?? 0,
    }));
  }
  grpcOptions.connectionLimits = limits;
  if (options.tls) grpcOptions.tls = options.tls;
  const server = new GrpcServer(grpcOptions);
  const status = addXdsServices(server, options, limits);
  const { board, acks } = status;
  budget = status.budget;
  const { cache } = options;
  const served: CurrentResources = (stream, typeUrl) => cache.snapshot(stream.group)?.snapshot.resources(typeUrl);
  const health = new HealthService();
  health.set(AggregatedDiscoveryService.typeName, ServingStatus.SERVING);
  health.register(server);
  const port = await server.listen(options.host ?? "0.0.0.0", options.port ?? defaultXdsPort);
  options.logger?.info({ port, tls: options.tls !== undefined }, "xDS server listening");
  return {
    port,
    health,
    proxyStatus: () => board.list(),
    ackTable: () => acks.table(served),
    ackUnsettled: () => acks.unsettled(served),
    stop: (graceMs = 1_000) => {
      health.drain();
      return server.shutdown(graceMs);
    },
  };
}
