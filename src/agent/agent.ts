// `gantry agent`: one per workload cluster. It relays the cluster's discovered resources and its
// proxies' status up to the management server, and serves the cluster's proxies, proxyless gRPC
// clients, ext-auth and rate-limit servers by xDS from the output the server sends down, which it
// keeps on disk as last-known-good (served across restarts while the server is unreachable).
import { mkdir } from "node:fs/promises";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import type { ConfigProvider } from "../config/index.js";
import { type Output, ProxySchema } from "../gen/gantry/relay/v1/relay_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { Counter, Gauge, type Registry } from "../lib/metrics.js";
import type { Readiness } from "../lib/telemetry.js";
import { type PublishedGroup, Publisher } from "../server/index.js";
import {
  applyOutputMessage,
  type ClusterOutput,
  type DiscoveredSet,
  discoveryMessage,
  entryVersions,
  publicationOf,
} from "../server/relay/index.js";
import { type WorkloadIssuer, WorkloadSds } from "../trust/index.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../xds/index.js";
import { loadLastKnownGood, saveLastKnownGood } from "./last-known-good.js";
import { RelayClient, staleSinceField } from "./relay-client.js";

export interface AgentOptions {
  cluster: string;
  /** host:port of each server replica's relay port, tried in turn. */
  relay: readonly string[];
  /** Registration's mTLS credentials and the channel options they need (see RelayClientOptions). */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  dataDir: string;
  /** Where the cluster's resources are discovered; none: the agent sends no discovery up. */
  discovery?: ConfigProvider<DiscoveredSet>;
  host: string;
  /** The local xDS port the cluster's proxies connect to; 0 picks a free port. */
  xdsPort: number;
  agentVersion: string;
  logger: Logger;
  registry: Registry;
  timers?: Timers;
  /** Serves proxies that present a workload token their SDS secrets `default` and `ROOTCA` (docs/security.md). */
  workloadIssuer?: WorkloadIssuer;
}

export interface Agent {
  readonly xdsPort: number;
  /** The output served now, if any. */
  readonly outputVersion: string | undefined;
  /** Since when (clock ms) the output served could not be confirmed with a server; undefined while current. */
  readonly staleSinceMs: number | undefined;
  readonly relayConnected: boolean;
  /** For /readyz: ready once there is output to serve (from the server or from disk). */
  readiness(): Readiness;
  stop(): Promise<void>;
}

/** Quiet time before the proxies' status goes up, so a burst of ACKs is one report. */
const proxyReportDelayMs = 200;

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const { logger, registry, cluster } = options;
  const timers = options.timers ?? systemClock;
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const metrics = {
    stale: new Gauge({
      name: "gantry_agent_stale_since_seconds",
      help: "Unix time since which the output served is not confirmed by a server (0: current)",
      registers: [registry],
    }),
    connected: new Gauge({
      name: "gantry_agent_relay_connected",
      help: "1 while the relay stream is open",
      registers: [registry],
    }),
    saveFailures: new Counter({
      name: "gantry_agent_last_known_good_save_failures_total",
      help: "Outputs served that could not be written to the data dir",
      registers: [registry],
    }),
    outputs: new Counter({
      name: "gantry_agent_outputs_total",
      help: "Outputs from the server by result (applied, unchanged, refused)",
      labelNames: ["result"],
      registers: [registry],
    }),
  };

  let current: ClusterOutput | undefined;
  let staleSinceMs: number | undefined;
  let server = "";
  const setStale = (ms: number | undefined) => {
    staleSinceMs = ms;
    metrics.stale.set(ms === undefined ? 0 : ms / 1000);
  };

  const cache = new SnapshotCache({ clock: timers });
  const publisher = new Publisher<PublishedGroup>(cache, logger);
  const sds = options.workloadIssuer && new WorkloadSds({ issuer: options.workloadIssuer, publisher, logger });
  let reportTimer: Timer | undefined;
  const reportProxies = () => {
    if (reportTimer) return;
    reportTimer = timers.setTimeout(() => {
      reportTimer = undefined;
      sendProxies();
    }, proxyReportDelayMs);
  };
  const xds: XdsServer = await startXdsServer({
    cache,
    host: options.host,
    port: options.xdsPort,
    logger,
    registry,
    clock: timers,
    hooks: {
      onStreamOpen: (stream) => {
        publisher.nodeConnected(stream.node, stream.group);
        sds?.onStreamOpen(stream);
        reportProxies();
      },
      onStreamClose: (stream) => {
        sds?.onStreamClose(stream);
        publisher.nodeDisconnected(stream.node, stream.group);
        reportProxies();
      },
      onSubscribe: (stream, subscription) => sds?.onSubscribe(stream, subscription),
      onAck: () => reportProxies(),
      onNack: () => reportProxies(),
    },
  });

  try {
    const saved = await loadLastKnownGood(options.dataDir);
    if (saved) {
      current = saved.output;
      server = saved.server;
      publisher.update(publicationOf(saved.output));
      // Not confirmed by a server since it was received: stale from then until a server confirms it.
      setStale(saved.receivedAtMs);
      logger.info(
        { version: saved.output.version, receivedAt: new Date(saved.receivedAtMs).toISOString() },
        "agent: serving last-known-good output from the data dir",
      );
    }
  } catch (err) {
    logger.error({ err }, "agent: last-known-good output unusable; waiting for the server");
  }

  let discovered: DiscoveredSet | undefined = options.discovery?.current()?.config;
  let sentDiscovery: DiscoveredSet | undefined;
  let discoverySequence = 0n;
  const sendDiscovery = (whole: boolean) => {
    // Nothing discovered yet (no source, or its first reading failed): nothing is sent, so the
    // server keeps the cluster's last known Destinations instead of being told there are none.
    const next = discovered;
    if (!relay.connected || next === undefined) return;
    if (!whole && sentDiscovery === next) return;
    discoverySequence += 1n;
    relay.send({
      case: "discovery",
      value: discoveryMessage(whole ? undefined : sentDiscovery, next, discoverySequence),
    });
    sentDiscovery = next;
  };

  const sendProxies = () => {
    if (!relay.connected) return;
    const metadata = new Map(xds.proxyStatus().map((p) => [p.nodeId, p.metadata]));
    const proxies = xds.ackTable().clients.map((c) =>
      create(ProxySchema, {
        nodeId: c.nodeId,
        metadataJson: JSON.stringify((metadata.get(c.nodeId) ?? {}) as JsonObject),
        streams: [...c.streams],
        inSync: c.pending === 0 && c.nacked === 0,
        pending: c.pending,
        nacked: c.nacked,
        ...(c.lastNack ? { lastNackError: c.lastNack.error, lastNackAt: timestampFromMs(c.lastNack.at) } : {}),
      }),
    );
    relay.send({ case: "proxies", value: { proxies } });
  };

  const takeOutput = async (message: Output) => {
    let next: ClusterOutput;
    try {
      next = applyOutputMessage(current, message);
    } catch (err) {
      metrics.outputs.inc({ result: "refused" });
      logger.warn({ err: (err as Error).message }, "agent: output refused; the server sends it whole");
      throw err;
    }
    server = message.server;
    if (next.version === current?.version) {
      metrics.outputs.inc({ result: "unchanged" });
    } else {
      // Disk first: what proxies are served is what a restart would serve. A disk that refuses the
      // write does not hold the cluster back: proxies get the output, and the failure is counted.
      await saveLastKnownGood(options.dataDir, { output: next, receivedAtMs: timers.now(), server }).catch(
        (err: unknown) => {
          metrics.saveFailures.inc();
          logger.error({ err, dir: options.dataDir }, "agent: cannot save the last-known-good output");
        },
      );
      current = next;
      publisher.update(publicationOf(next));
      metrics.outputs.inc({ result: "applied" });
      logger.info({ version: next.version, server, full: message.full }, "agent: output applied");
    }
    if (staleSinceMs !== undefined)
      logger.info({ version: next.version, server }, "agent: output confirmed; no longer stale");
    setStale(undefined);
  };

  const relay: RelayClient = new RelayClient({
    addresses: options.relay,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.channelOptions ? { channelOptions: options.channelOptions } : {}),
    hello: () => ({
      cluster,
      agentVersion: options.agentVersion,
      outputVersion: current?.version ?? "",
      have: current ? [...entryVersions(current)].map(([key, version]) => ({ key, version })) : [],
      ...staleSinceField(staleSinceMs),
    }),
    onOutput: takeOutput,
    onOpen: () => {
      metrics.connected.set(1);
      sendDiscovery(true);
      sendProxies();
    },
    onResyncDiscovery: (reason) => {
      logger.warn({ reason }, "agent: the server asks for the discovery whole");
      sendDiscovery(true);
    },
    onClose: (error) => {
      metrics.connected.set(0);
      sentDiscovery = undefined;
      if (current && staleSinceMs === undefined) setStale(timers.now());
      logger.warn({ err: error?.message, relay: relay.address }, "agent: relay stream ended; reconnecting");
    },
    logger,
    timers,
  });

  const unsubscribe = options.discovery?.subscribe({
    update: async (snapshot) => {
      discovered = snapshot.config;
      sendDiscovery(false);
    },
    error: (err) =>
      logger.error({ err: err.message }, "agent: discovery source unreadable; keeping what was discovered"),
  });
  await options.discovery?.start();
  discovered = options.discovery?.current()?.config ?? discovered;
  relay.start();
  logger.info({ cluster, relay: options.relay, xds: xds.port }, "agent started");

  return {
    xdsPort: xds.port,
    get outputVersion() {
      return current?.version;
    },
    get staleSinceMs() {
      return staleSinceMs;
    },
    get relayConnected() {
      return relay.connected;
    },
    readiness: (): Readiness => {
      const detail = [
        `cluster: ${cluster}`,
        // Connected once the server answered: a stream to a dead address exists until it fails.
        `relay: ${relay.established ? `connected to ${relay.address}` : "not connected"}`,
        ...(current ? [`output: ${current.version} from ${server || "unknown server"}`] : []),
        ...(staleSinceMs === undefined ? [] : [`stale since ${new Date(staleSinceMs).toISOString()}`]),
      ];
      // Serving stale output is still serving: proxies keep their configuration.
      return current ? { ready: true, detail } : { ready: false, reason: "no output from the server yet", detail };
    },
    stop: async () => {
      reportTimer?.cancel();
      unsubscribe?.();
      relay.stop();
      await options.discovery?.stop();
      await xds.stop(1_000);
    },
  };
}
