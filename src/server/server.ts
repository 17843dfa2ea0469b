// Over 400 lines: this is the one place that wires store, translation, xDS, insights, the relay and the API together.
import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServerCredentials } from "@grpc/grpc-js";
import { type ClusterRegistry, RelayAuth } from "../cluster/index.js";
import type { FileLimits } from "../config/index.js";
import type { XdsResource } from "../envoy/index.js";
import { RegistrationService } from "../gen/gantry/relay/v1/registration_pb.js";
import { TrustService } from "../gen/gantry/relay/v1/trust_pb.js";
import { ResourceStatusSchema } from "../gen/gantry/v1/status_pb.js";
import {
  configInputOf,
  InsightsRuntime,
  type InsightsRuntimeOptions,
  MemoryInsightHistory,
  type PrometheusSource,
} from "../insights/index.js";
import { KubeSource, type Leadership } from "../kube/index.js";
import type { KubeApi } from "../kubernetes/index.js";
import { systemClock, type Timers } from "../lib/clock.js";
import { Debouncer } from "../lib/debounce.js";
import { checkTracingOptions, startTracing, type TracingOptions, WorkerPool } from "../lib/index.js";
import type { Logger } from "../lib/logger.js";
import { Counter, Gauge, Histogram, type Registry } from "../lib/metrics.js";
import { type TlsFiles, TlsFileWatch } from "../lib/tls.js";
import { type DocumentCheck, OpenApiChecks } from "../openapi/index.js";
import { parseRefKey, placementOf, type RejectedDocument, refKey } from "../resources/index.js";
import type { ResourceKey, ResourceStore, StoreSnapshot } from "../store/index.js";
import { State, type Status, type TranslateOptions, type Translation, Translator } from "../translate/index.js";
import { type TrustAuthority, trustService, UnservedWorkloadSecrets } from "../trust/index.js";
import {
  type AckTable,
  combineHooks,
  SnapshotCache,
  startXdsServer,
  type XdsHooks,
  type XdsLimits,
  type XdsServer,
} from "../xds/index.js";
import {
  type ApiLimits,
  checkApiTokens,
  type ManagementDeps,
  type ProxyClientView,
  type ProxyStatusView,
  resolveApiLimits,
  startManagementApi,
  type TokenEntry,
} from "./api/index.js";
import { shortType } from "./client-status.js";
import { type ConfigDirResult, ConfigDirSource } from "./config-dir.js";
import { type ConnectedClient, describeResource } from "./describe.js";
import { DesiredState } from "./desired-state.js";
import { buildGraph, type Graph } from "./graph.js";
import { type GraphRatesSource, graphRatesOf } from "./graph-rates.js";
import { ResourceHistory } from "./history.js";
import { proxyConfigJson } from "./proxy-config.js";
import { type Publication, Publisher } from "./publish.js";
import { type RejectionTimes, rejectionTimes } from "./rejections.js";
import { type ClusterView, type PeerCluster, RelayHub, type RelayServer, startRelayServer } from "./relay/index.js";
import { createUi, type UiOptions } from "./ui/index.js";

/** How often the agents connected to a replica are recorded in the cluster registry. */
const clusterReportIntervalMs = 2_000;

/**
 * Resolves after the xDS pushes a publish scheduled have been handed to their connections and sent:
 * streams push on `setImmediate`, and Node's HTTP/2 sessions send what they were given on a native
 * immediate of the next loop turn, so two turns of the check phase.
 */
function pushesWritten(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

export interface ManagementServerOptions {
  store: ResourceStore;
  host: string;
  xdsPort: number;
  apiPort: number;
  /** The API bearer token; undefined only with `insecureApi`. */
  apiToken: string | undefined;
  insecureApi?: boolean;
  /** The second token, which may ask the API to show secret material; without it, nobody may. */
  apiSecretsToken?: string;
  /** More API tokens, each with a role (`--api-tokens-file`). */
  apiTokens?: readonly TokenEntry[];
  /** The dashboard under /ui on the API port, and its OIDC sign-in ([ui](../../docs/ui.md)). */
  ui?: UiOptions;
  /**
   * Where the API's `DataPlaneRates` reads ext-auth and rate-limit decisions: a Prometheus
   * (stateless queries; a registry source is not, its reads are the insights').
   */
  dataPlaneRates?: PrometheusSource;
  /** Where the API's `GraphRates` reads the graph's edge rates (the same Prometheus, other queries). */
  graphRates?: GraphRatesSource;
  /** Body size, timeouts, connections and failed-authentication budget of the API port. */
  apiLimits?: Partial<ApiLimits>;
  configDir?: string;
  /** Bounds on each file of `configDir`. Default defaultFileLimits (8 MiB, 10,000 documents). */
  configLimits?: FileLimits;
  /** Where Envoy reaches the ext-auth and rate-limit services (served to proxies as clusters). */
  translate?: TranslateOptions;
  /** ApiProducts' OpenAPI documents, checked for their status: where `file` sources are read (default the working directory). */
  openApi?: { baseDir?: string; fileRefreshMs?: number };
  logger: Logger;
  registry: Registry;
  /** Time for the snapshot cache, proxy status and the debouncers. Default the system clock. */
  clock?: Timers;
  /**
   * Translation debounce: a change after 100 ms of calm is translated at once; the changes that follow it are
   * collapsed until ≈100 ms quiet, ≤ 1 s after the first (as the design says).
   */
  debounce?: { quietMs: number; maxDelayMs: number };
  /** This replica's name in proxy status; defaults to the host name. */
  serverName?: string;
  /** Serve xDS over TLS; with a client CA, proxies must present certificates it signed (mTLS). */
  xdsTls?: TlsFiles;
  /** Serve the management API over HTTPS. */
  apiTls?: TlsFiles;
  /** Bounds on the xDS port across all client connections. */
  xdsLimits?: XdsLimits;
  /** More xDS stream hooks, called after the server's own (an observer's: bench/xds-propagation traces with them). */
  xdsHooks?: XdsHooks;
  /** Serve agents (`gantry agent`) on a relay port: their clusters' discovery in, their translated output out. */
  relay?: {
    port: number;
    /** Default insecure (loopback, tests); registration's mTLS credentials go here. */
    credentials?: ServerCredentials;
    peerCluster?: PeerCluster;
    /**
     * The workload clusters' registry: the port then also serves registration (Enroll, Rotate) and
     * takes only mTLS from enrolled, unrevoked clusters (docs/multicluster.md, "Registration").
     */
    registry?: ClusterRegistry;
    /** The root CA: with a registry, the port also signs clusters' intermediate CAs (TrustService, docs/security.md). */
    trust?: TrustAuthority;
  };
  /** Gantry's custom resources in a Kubernetes cluster, a source beside the config folder ([kubernetes](../../docs/kubernetes.md)). */
  kubernetes?: {
    api: KubeApi;
    /** Watch one namespace; default all. */
    namespace?: string;
    /** Which replica writes statuses (the Lease holder); default this one, always. */
    leadership?: Leadership;
  };
  /** Export a span per translation and publication over OTLP ([observability](../../docs/observability.md)). */
  tracing?: TracingOptions;
  /** Insights: where history and silences live (default in memory), Redis to probe, data-plane metrics. */
  insights?: Partial<Pick<InsightsRuntimeOptions, "history" | "redis" | "metrics" | "intervalMs" | "proxyThresholds">>;
  /**
   * Tests only: no flag or variable of `gantry server` reaches it (test/server/test-seam.test.ts holds
   * every other file of src/ to that). Called once with a function that sends the node `nodeId`
   * resources over what translation gives it, name for name, unvalidated (`undefined` takes them back).
   * The interop matrix sends clients a resource they must NACK this way: Gantry's validator lets none out.
   */
  unvalidatedResourcesForTests?: (
    send: (nodeId: string, resources: readonly XdsResource[] | undefined) => void,
  ) => void;
}

export interface ManagementServer {
  readonly xdsPort: number;
  readonly apiPort: number;
  /** The relay port, when agents are served. */
  readonly relayPort: number | undefined;
  /** The clusters whose agents are or were connected to this replica. */
  clusters(): ClusterView[];
  /** Translates now if a change is pending, and waits until published. */
  settle(): Promise<void>;
  /** The revision of the store last translated and published. */
  readonly publishedRevision: number;
  status(key: ResourceKey): Status | undefined;
  proxies(): ProxyStatusView[];
  /** True once a first translation has been published. */
  readonly ready: boolean;
  readonly insights: InsightsRuntime;
  stop(): Promise<void>;
}

/**
 * The management server: resources from the store (fed by the API and a config folder) are
 * translated after a debounce and published by xDS to proxies, ext-auth servers and rate-limit
 * servers. When translation or the store fails, proxies keep their last good configuration.
 */
export async function startManagementServer(options: ManagementServerOptions): Promise<ManagementServer> {
  const { store, logger, registry } = options;
  // Every option is checked before a port opens: a server never runs half-started.
  const ui = createUi(options.ui ?? {}, { logger, timers: options.clock ?? systemClock });
  checkApiTokens({
    token: options.apiToken,
    secretsToken: options.apiSecretsToken,
    ...(options.apiTokens ? { tokens: options.apiTokens } : {}),
    ...(ui.oidc ? { oidc: ui.oidc } : {}),
    ...(options.insecureApi ? { insecure: true } : {}),
  });
  resolveApiLimits(options.apiLimits);
  if (options.tracing) checkTracingOptions(options.tracing);
  const clock = options.clock ?? systemClock;
  // TLS files are checked here too, before a port opens; each watch is stopped with its server.
  const xdsTls = options.xdsTls && new TlsFileWatch(options.xdsTls, { logger, timers: clock });
  let apiTls: TlsFileWatch | undefined;
  try {
    apiTls = options.apiTls && new TlsFileWatch(options.apiTls, { logger, timers: clock });
  } catch (err) {
    xdsTls?.stop();
    throw err;
  }
  const serverName = options.serverName ?? hostname();
  const metrics = {
    translations: new Counter({
      name: "gantry_translations_total",
      help: "Translation runs by result",
      labelNames: ["result"],
      registers: [registry],
    }),
    translationSeconds: new Histogram({
      name: "gantry_translation_seconds",
      help: "Time to translate the whole store and publish it",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    statuses: new Gauge({
      name: "gantry_resources",
      help: "Resources by kind and status state",
      labelNames: ["kind", "state"],
      registers: [registry],
    }),
    revision: new Gauge({
      name: "gantry_published_revision",
      help: "Store revision last published",
      registers: [registry],
    }),
  };

  // The cache and the xDS server share the clock: `describe` compares change and push times.
  const cache = new SnapshotCache({ clock });
  const publisher = new Publisher(cache, logger);
  options.unvalidatedResourcesForTests?.((nodeId, resources) => publisher.setOwnResources(nodeId, resources));
  let xdsServer: XdsServer | undefined;
  /** The relay's hub, made further down: the insights read its clusters once it exists. */
  let hubRef: RelayHub | undefined;
  const history = new ResourceHistory();
  const dataPlaneRates = options.dataPlaneRates;
  // The API's status watchers (the dashboard's live view), told of every proxy connect, ACK and NACK.
  const statusListeners = new Set<(what: "proxies") => void>();
  const statusChanged = (what: "proxies") => {
    for (const listener of statusListeners) listener(what);
  };
  const insights = new InsightsRuntime({
    clock,
    registry,
    logger,
    history: options.insights?.history ?? new MemoryInsightHistory(clock),
    proxyResources: () => xdsServer?.ackUnsettled() ?? [],
    // The agents of the workload clusters this replica relays to: disconnected, or behind its output.
    agents: () =>
      (hubRef?.clusters() ?? []).map((c) => ({
        cluster: c.name,
        connected: c.connected,
        lastSeen: c.lastSeenMs,
        publishedVersion: c.publishedVersion,
        agentVersion: c.outputVersion,
        publishedAt: c.publishedAtMs,
        conflicts: c.conflicts,
      })),
    ...options.insights,
  });
  const unservedSecrets = new UnservedWorkloadSecrets({ logger, registry });
  const xds: XdsServer = await startXdsServer({
    cache,
    host: options.host,
    port: options.xdsPort,
    logger,
    registry,
    clock,
    ...(xdsTls ? { tls: xdsTls } : {}),
    ...(options.xdsLimits ? { limits: options.xdsLimits } : {}),
    hooks: combineHooks(
      {
        onStreamOpen: (stream) => {
          publisher.nodeConnected(stream.node, stream.group);
          insights.tracker.onStreamOpen(stream);
          statusChanged("proxies");
        },
        onStreamClose: (stream) => {
          publisher.nodeDisconnected(stream.node, stream.group);
          insights.tracker.onStreamClose(stream);
          unservedSecrets.onStreamClose(stream);
          statusChanged("proxies");
        },
        onSubscribe: (stream, subscription) => unservedSecrets.onSubscribe(stream, subscription),
        onAck: () => {
          insights.tracker.onAck();
          statusChanged("proxies");
        },
        onNack: () => {
          insights.tracker.onNack();
          statusChanged("proxies");
        },
      },
      options.xdsHooks ?? {},
    ),
  }).catch((err: unknown) => {
    xdsTls?.stop();
    apiTls?.stop();
    throw err;
  });
  xdsServer = xds;

  const translator = new Translator(options.translate ?? {});
  const tracing = await startTracing(options.tracing);
  // Config folder files and apply requests are parsed in a worker thread (started on first use),
  // so a large or hostile input never holds the event loop that serves xDS and the API.
  const workers = new WorkerPool();
  const desired = new DesiredState(store, undefined, (documents) =>
    workers.run({ module: new URL("./parse-tasks.js", import.meta.url), name: "checkDocumentsTask" }, documents),
  );
  const hub = options.relay && new RelayHub({ store, desired, logger, registry, clock, serverName });
  // Products' OpenAPI documents are read and checked here, at the edge (parsing in the worker
  // thread); each result that changes is translated again, so their statuses follow.
  const openApi = new OpenApiChecks({
    baseDir: options.openApi?.baseDir ?? process.cwd(),
    ...(options.openApi?.fileRefreshMs === undefined ? {} : { fileRefreshMs: options.openApi.fileRefreshMs }),
    timers: clock,
    check: (input) =>
      workers.run<DocumentCheck>(
        { module: new URL("../openapi/check.js", import.meta.url), name: "checkDocumentText" },
        input,
      ),
    onChange: () => debounce.trigger(),
  });
  hubRef = hub || undefined;
  let statuses = new Map<string, Status>();
  let rejectedSince: RejectionTimes = new Map();
  let rateLimits: Translation["rateLimits"] = [];
  /** Each published Destination's workload clusters (`metadata.clusters`), for the dashboard's graph. */
  let destinationClusters = new Map<string, readonly string[]>();
  /** The graph of the last publication, drawn at the first ask. */
  let drawn: { revision: number; graph: Graph } | undefined;
  let configDirRejected: RejectedDocument[] = [];
  /** The custom resources' source, told of each publication so that their statuses follow. */
  let kube: KubeSource | undefined;
  /** Config folder loads, and those the last publish saw: its rejected documents may change at one revision. */
  let configDirLoads = 0;
  let publishedLoads = 0;
  /** The OpenAPI checks' version the last publish translated with. */
  let publishedChecks = -1;
  let publishedRevision = -1;
  let ready = false;

  /** Stored documents as resources; the config folder's rejected documents report too. */
  const parseSnapshot = (snapshot: StoreSnapshot) => {
    const { resources, rejected } = desired.read(snapshot);
    return { resources, rejected: [...configDirRejected, ...rejected] };
  };

  const translateAndPublish = async () => {
    const started = performance.now();
    const span = tracing.startSpan("translate and publish");
    let snapshot: StoreSnapshot;
    try {
      snapshot = await store.snapshot();
    } catch (err) {
      metrics.translations.inc({ result: "store_error" });
      logger.error({ err }, "cannot read the store; proxies keep their configuration");
      span?.fail(`store: ${err instanceof Error ? err.message : String(err)}`);
      span?.end();
      throw err;
    }
    // An apply triggers a run itself and again by its store event, which Redis delivers once the
    // first run is under way: the second finds nothing new to translate.
    const loads = configDirLoads;
    const checks = openApi.version;
    if (snapshot.revision === publishedRevision && loads === publishedLoads && checks === publishedChecks) {
      metrics.translations.inc({ result: "unchanged" });
      span?.setAttribute("gantry.unchanged", true);
      span?.end();
      return;
    }
    span?.setAttribute("gantry.revision", snapshot.revision);
    /** From the start to the publish, without what waits for the pushes after it. */
    let publishedMs: number | undefined;
    try {
      const { resources, rejected } = parseSnapshot(snapshot);
      const translating = span?.child("translate", { "gantry.resources": resources.length });
      openApi.track(resources.flatMap((r) => (r.kind === "ApiProduct" ? [r.spec.openapi] : [])));
      const translation = translator.translate(resources, rejected, { openApi: openApi.results() });
      translating?.end();
      for (const { domain, problems } of translation.refusedDomains) {
        logger.warn(
          { domain, problems },
          "rate-limit domain refused; the rate-limit servers keep its last good config",
        );
      }
      const publication: Publication = {
        groups: translation.groups,
        authConfigs: translation.authConfigs,
        rateLimitConfigs: translation.rateLimitConfigs,
      };
      const publishing = span?.child("publish", { "gantry.gateways": translation.groups.length });
      publisher.update(publication);
      hub?.update(publication);
      publishing?.end();
      statuses = translation.statuses;
      rejectedSince = rejectionTimes(rejectedSince, statuses, clock.now());
      rateLimits = translation.rateLimits;
      destinationClusters = new Map(
        resources
          .filter((r) => r.kind === "Destination")
          .map((r) => [refKey({ kind: r.kind, ...r.metadata }), placementOf(r)]),
      );
      drawn = undefined;
      publishedRevision = snapshot.revision;
      publishedLoads = loads;
      publishedChecks = checks;
      ready = true;
      publishedMs = performance.now() - started;
      // What follows (statuses to Kubernetes, metrics, insights, history) is not needed by the
      // proxies: it waits until the pushes this publish scheduled are written.
      await pushesWritten();
      kube?.published();
      metrics.revision.set(snapshot.revision);
      metrics.statuses.reset();
      for (const [key, status] of statuses) {
        metrics.statuses.inc({ kind: parseRefKey(key).kind, state: State[status.state] ?? "UNKNOWN" });
      }
      metrics.translations.inc({ result: "ok" });
      insights.onTranslation(configInputOf(resources, translation));
      history.record(snapshot, clock.now());
      logger.info(
        {
          revision: snapshot.revision,
          gateways: translation.groups.length,
          ms: Math.round(publishedMs),
        },
        "published",
      );
    } catch (err) {
      metrics.translations.inc({ result: "error" });
      logger.error(
        { err, ...(span ? { trace_id: span.traceId } : {}) },
        "translation failed; proxies keep their configuration",
      );
      span?.fail(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      metrics.translationSeconds.observe((publishedMs ?? performance.now() - started) / 1000);
      span?.end();
    }
  };

  const debounce = new Debouncer(translateAndPublish, {
    quietMs: options.debounce?.quietMs ?? 100,
    maxDelayMs: options.debounce?.maxDelayMs ?? 1_000,
    // A lone change (one apply after a calm spell) is translated at once; bursts are still collapsed.
    leading: true,
    timers: clock,
  });
  const unwatch = store.watch(() => debounce.trigger());

  let configDir: ConfigDirSource | undefined;
  let relay: RelayServer | undefined;
  let relayAuth: RelayAuth | undefined;
  /** Undoes what started so far when a later step fails (a port in use, a store that cannot be read). */
  const abandon = async (err: unknown): Promise<never> => {
    apiTls?.stop();
    unwatch();
    configDir?.stop();
    kube?.stop();
    debounce.stop();
    openApi.stop();
    await insights.stop();
    await workers.close();
    await xds.stop(0);
    relayAuth?.stop();
    await relay?.stop(0);
    await tracing.shutdown();
    throw err;
  };
  if (options.configDir) {
    configDir = new ConfigDirSource({
      dir: options.configDir,
      store,
      desired,
      pool: workers,
      limits: options.configLimits,
      logger,
      timers: clock,
      onLoad: (result: ConfigDirResult) => {
        configDirRejected = result.rejected;
        configDirLoads += 1;
        debounce.trigger();
      },
    });
    await configDir.start().catch(abandon);
  }
  if (options.kubernetes) {
    kube = new KubeSource({
      ...options.kubernetes,
      desired,
      store,
      published: {
        revision: () => publishedRevision,
        status: (key) => statuses.get(refKey(key)),
        groups: () => publisher.publication.groups,
      },
      registry,
      timers: clock,
      logger,
    });
    await kube.start().catch(abandon);
  }
  debounce.trigger();
  await debounce.flush().catch(abandon);
  // Agents are taken once a first translation is published, so none is told its cluster is empty.
  if (hub && options.relay) {
    const { registry: clusters } = options.relay;
    if (clusters) {
      relayAuth = new RelayAuth({ registry: clusters, metrics: registry, logger, timers: clock });
      await relayAuth.start().catch(abandon);
    }
    const auth = relayAuth;
    const credentials = auth?.serverCredentials() ?? options.relay.credentials;
    // With registration, every stream's certificate is checked against the registry (a removed
    // cluster is refused) and must name the cluster its hello claims.
    const peerCluster: PeerCluster | undefined = auth
      ? async (peer, claimed) => (await auth.verifyPeer({ getAuthContext: () => peer.authContext }, claimed)).cluster
      : options.relay.peerCluster;
    relay = await startRelayServer({
      hub,
      host: options.host,
      port: options.relay.port,
      ...(credentials ? { credentials } : {}),
      ...(peerCluster ? { peerCluster } : {}),
      ...(auth
        ? {
            services: (server) => {
              server.add(RegistrationService, auth.registrationService());
              const trust = options.relay?.trust;
              if (trust) server.add(TrustService, trustService({ authority: trust, auth, logger, metrics: registry }));
            },
          }
        : {}),
      logger,
    }).catch(async (err: unknown) => {
      auth?.stop();
      return abandon(err);
    });
  }
  await insights.start();

  const proxies = (): ProxyStatusView[] => [
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

  /** The connected clients, one per node id, with what the ACK ledger counts for each. */
  const clientViews = (table: AckTable = xds.ackTable()): ProxyClientView[] => {
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
  };

  const statusOf = (key: ResourceKey) => statuses.get(refKey(key));
  const deps: ManagementDeps = {
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
    translate: options.translate ?? {},
    status: (key) => {
      const status = statusOf(key);
      const since = rejectedSince.get(refKey(key))?.since;
      return (
        status &&
        create(ResourceStatusSchema, {
          state: status.state,
          messages: status.messages,
          ...(since === undefined ? {} : { since: timestampFromMs(since) }),
        })
      );
    },
    proxies,
    clients: clientViews,
    insights: insights.book,
    now: () => clock.now(),
    history: (key) => history.versions(key),
    ...(dataPlaneRates ? { dataPlane: () => dataPlaneRates.sample() } : {}),
    graph: () => {
      if (!drawn || drawn.revision !== publishedRevision) {
        drawn = { revision: publishedRevision, graph: buildGraph(publisher.publication.groups, destinationClusters) };
      }
      return { publishedRevision, graph: drawn.graph };
    },
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
        publishedRevision,
        description: describeResource(kind, namespace, name, {
          groups,
          rateLimits,
          authConfigs,
          rateLimitConfigs,
          clients: clientViews(table).map(
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
  // What this replica's agents report goes to the cluster registry, shared by every replica: a cluster
  // connected here is reported every few seconds, and once as disconnected when its stream ends.
  const clusterRegistry = options.relay?.registry;
  let reportedHere = new Set<string>();
  const reportClusters = async () => {
    if (!hub || !clusterRegistry) return;
    const connectedNow = new Set<string>();
    for (const view of hub.clusters()) {
      if (view.connected) connectedNow.add(view.name);
      else if (!reportedHere.has(view.name)) continue;
      await clusterRegistry
        .report(view.name, {
          connected: view.connected,
          server: serverName,
          agentVersion: view.agentVersion,
          snapshotVersion: view.outputVersion,
          resources: view.discovered,
          proxies: view.proxies,
          ...(view.staleSinceMs === undefined ? {} : { staleSinceMs: view.staleSinceMs }),
        })
        .catch((err: unknown) => logger.warn({ err, cluster: view.name }, "cannot record the cluster's report"));
    }
    reportedHere = connectedNow;
  };
  const reporting = clusterRegistry
    ? clock.setInterval(() => void reportClusters(), clusterReportIntervalMs).unref()
    : undefined;
  const stopRelay = async () => {
    reporting?.cancel();
    relayAuth?.stop();
    await relay?.stop(1_000);
    await reportClusters();
  };
  const api = await startManagementApi({
    host: options.host,
    port: options.apiPort,
    token: options.apiToken,
    ...(options.apiSecretsToken === undefined ? {} : { secretsToken: options.apiSecretsToken }),
    ...(options.apiTokens ? { tokens: options.apiTokens } : {}),
    ...(ui.oidc ? { oidc: ui.oidc } : {}),
    ui: ui.handler,
    ...(options.insecureApi ? { insecure: true } : {}),
    ...(options.apiLimits ? { limits: options.apiLimits } : {}),
    ...(apiTls ? { tls: apiTls } : {}),
    deps: {
      ...deps,
      ...(options.relay?.registry ? { clusters: options.relay.registry } : {}),
      ...(options.relay?.trust ? { trust: options.relay.trust } : {}),
    },
    logger,
  }).catch(async (err: unknown) => {
    await stopRelay();
    return abandon(err);
  });

  return {
    xdsPort: xds.port,
    apiPort: api.port,
    relayPort: relay?.port,
    clusters: () => hub?.clusters() ?? [],
    settle: () => debounce.flush(),
    get publishedRevision() {
      return publishedRevision;
    },
    get ready() {
      return ready;
    },
    status: statusOf,
    proxies,
    insights,
    stop: async () => {
      unwatch();
      configDir?.stop();
      kube?.stop();
      debounce.stop();
      openApi.stop();
      await insights.stop();
      await api.close();
      await stopRelay();
      await workers.close();
      await xds.stop(1_000);
      await tracing.shutdown();
    },
  };
}
