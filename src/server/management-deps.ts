// What the management API reads of the running server: the proxies (this replica's streams and the
// agents' clients), the published translation (statuses, describe, the graph), insights and history,
// and the apply path through the desired state and the debouncer.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ResourceStatusSchema } from "../gen/gantry/v1/status_pb.js";
import type { InsightsRuntime, PrometheusSource } from "../insights/index.js";
import type { Clock } from "../lib/clock.js";
import type { Debouncer } from "../lib/debounce.js";
import type { ResourceStore } from "../store/index.js";
import type { TranslateOptions } from "../translate/index.js";
import type { AckTable, SnapshotCache, XdsServer } from "../xds/index.js";
import type { ManagementDeps, ProxyClientView, ProxyStatusView } from "./api/index.js";
import { shortType } from "./client-status.js";
import { type ConnectedClient, describeResource } from "./describe.js";
import type { DesiredState } from "./desired-state.js";
import { type GraphRatesSource, graphRatesOf } from "./graph-rates.js";
import type { ResourceHistory } from "./history.js";
import { proxyConfigJson } from "./proxy-config.js";
import type { Publisher } from "./publish.js";
import { type PublishLoop, pushesWritten } from "./publish-loop.js";
import type { RelayHub } from "./relay/index.js";

/** Where the proxies are known: this replica's xDS server, and the relay's agents. */
export interface ProxySources {
  xds: XdsServer;
  hub: RelayHub | undefined;
  serverName: string;
}

/** The proxies connected to this replica, one per stream, then the agents' (one per client). */
export function proxyViews({ xds, hub, serverName }: ProxySources): ProxyStatusView[] {
  return [
    ...xds.proxyStatus().map((p) => ({
      nodeId: p.nodeId,
      metadata: p.metadata,
      stream: p.kind,
      connectedAtMs: p.connectedAt,
      server: serverName,
      types: p.types.map((t) => ({
        typeUrl: t.typeUrl,
        ackedVersion: t.acked?.version ?? "",
        ackedNonce: t.acked?.nonce ?? "",
        ...(t.lastNack ? { lastNackError: t.lastNack.error, lastNackAtMs: t.lastNack.at } : {}),
      })),
    })),
    // The agents' proxies, by the status their agents relay (per client, not per stream and type).
    ...(hub?.proxies() ?? []).map((c) => ({
      nodeId: c.nodeId,
      metadata: c.metadata,
      stream: c.streams.join(","),
      connectedAtMs: 0,
      server: c.server,
      types: [],
    })),
  ];
}

/** The connected clients, one per node id, with what the ACK ledger counts for each. */
function clientViews({ xds, hub, serverName }: ProxySources, table: AckTable = xds.ackTable()): ProxyClientView[] {
  const metadata = new Map(xds.proxyStatus().map((p) => [p.nodeId, p.metadata]));
  const local = table.clients.map((c) => ({
    nodeId: c.nodeId,
    metadata: metadata.get(c.nodeId) ?? {},
    streams: [...c.streams],
    server: serverName,
    inSync: c.inSync,
    pending: c.pending,
    nacked: c.nacked,
    ...(c.lastNack
      ? { lastNack: { error: `${shortType(c.lastNack.typeUrl)}: ${c.lastNack.error}`, atMs: c.lastNack.at } }
      : {}),
  }));
  return [...local, ...(hub?.proxies() ?? [])];
}

export interface ManagementDepsOptions extends ProxySources {
  store: ResourceStore;
  desired: DesiredState;
  debounce: Debouncer;
  translate: TranslateOptions;
  loop: PublishLoop;
  publisher: Publisher;
  cache: SnapshotCache;
  insights: InsightsRuntime;
  history: ResourceHistory;
  clock: Clock;
  dataPlaneRates: PrometheusSource | undefined;
  graphRates: GraphRatesSource | undefined;
  /** The API's status watchers (the dashboard's live view), told of every proxy connect, ACK and NACK. */
  statusListeners: Set<(what: "proxies") => void>;
}

export function managementDeps(options: ManagementDepsOptions): ManagementDeps {
  const { store, desired, debounce, loop, publisher, cache, xds, insights, history, clock, statusListeners } = options;
  const { dataPlaneRates } = options;
  return {
    store,
    desired: {
      check: (documents) => desired.check(documents),
      read: (snapshot) => desired.read(snapshot),
      // A write reported stored is translated even if its event is lost (the watch resubscribing).
      apply: async (resources) => {
        const result = await desired.apply(resources);
        if (result.changed.length > 0) {
          debounce.trigger();
          // The caller's report (a translation of its own) comes after this change is published and
          // its pushes are written, when that happens at once: it is not on the way to the proxies.
          await debounce.imminentRun();
          await pushesWritten();
        }
        return result;
      },
    },
    translate: options.translate,
    status: (key) => {
      const status = loop.status(key);
      const since = loop.rejectedSince(key);
      return (
        status &&
        create(ResourceStatusSchema, {
          state: status.state,
          messages: status.messages,
          ...(since === undefined ? {} : { since: timestampFromMs(since) }),
        })
      );
    },
    proxies: () => proxyViews(options),
    clients: () => clientViews(options),
    insights: insights.book,
    now: () => clock.now(),
    history: (key) => history.versions(key),
    ...(dataPlaneRates ? { dataPlane: () => dataPlaneRates.sample() } : {}),
    graph: () => loop.graph(),
    ...(options.graphRates ? { graphRates: graphRatesOf(options.graphRates) } : {}),
    describeProxy: (nodeId) => {
      const streams = xds.proxyStatus().filter((p) => p.nodeId === nodeId);
      const first = streams[0];
      if (!first) return undefined;
      const table = xds.ackTable();
      const client = table.clients.find((c) => c.nodeId === nodeId);
      return {
        nodeId,
        metadata: first.metadata,
        streams: [...(client?.streams ?? streams.map((p) => p.kind))].sort(),
        resources: table.resources.filter((r) => r.nodeId === nodeId).map(({ nodeId: _n, streams: _s, ...r }) => r),
        config: proxyConfigJson(cache.snapshot(first.group)?.snapshot.all() ?? []),
        ...(client?.lastNack
          ? {
              lastNack: {
                error: `${shortType(client.lastNack.typeUrl)}: ${client.lastNack.error}`,
                atMs: client.lastNack.at,
              },
            }
          : {}),
      };
    },
    onStatusChange: (listener) => {
      statusListeners.add(listener);
      const unsubscribeInsights = insights.book.subscribe(() => listener("insights"));
      return () => {
        statusListeners.delete(listener);
        unsubscribeInsights();
      };
    },
    describe: (kind, namespace, name) => {
      const { groups, authConfigs, rateLimitConfigs } = publisher.publication;
      const table = xds.ackTable();
      return {
        publishedRevision: loop.publishedRevision,
        description: describeResource(kind, namespace, name, {
          groups,
          rateLimits: loop.rateLimits,
          authConfigs,
          rateLimitConfigs,
          clients: clientViews(options, table).map(
            (c): ConnectedClient => ({
              nodeId: c.nodeId,
              metadata: c.metadata,
              streams: c.streams,
              lastNackError: c.lastNack?.error ?? "",
            }),
          ),
          acks: table.resources,
        }),
      };
    },
  };
}
