// Starts the management server and wires its parts together: the publish loop (publish-loop.ts, and
// post-publish.ts for what waits for the pushes), the xDS server's hooks, the config folder,
// Kubernetes, the relay port (relay-port.ts), insights and the management API (management-deps.ts).
// What it takes and gives back is in options.ts.
import { hostname } from "node:os";
import { InsightsRuntime, MemoryInsightHistory } from "../insights/index.js";
import { KubeSource } from "../kube/index.js";
import { systemClock } from "../lib/clock.js";
import { Debouncer } from "../lib/debounce.js";
import { checkTracingOptions, startTracing, WorkerPool } from "../lib/index.js";
import { TlsFileWatch } from "../lib/tls.js";
import { type DocumentCheck, OpenApiChecks } from "../openapi/index.js";
import { Translator } from "../translate/index.js";
import { UnservedWorkloadSecrets } from "../trust/index.js";
import { combineHooks, SnapshotCache, startXdsServer, type XdsServer } from "../xds/index.js";
import { checkApiTokens, resolveApiLimits, startManagementApi } from "./api/index.js";
import { type ConfigDirResult, ConfigDirSource } from "./config-dir.js";
import { DesiredState } from "./desired-state.js";
import { ResourceHistory } from "./history.js";
import { managementDeps, proxyViews } from "./management-deps.js";
import type { ManagementServer, ManagementServerOptions } from "./options.js";
import { afterPublish } from "./post-publish.js";
import { Publisher } from "./publish.js";
import { PublishLoop, publishMetrics } from "./publish-loop.js";
import { RelayHub } from "./relay/index.js";
import { ClusterReports, type RelayPort, startRelayPort } from "./relay-port.js";
import { createUi } from "./ui/index.js";

export type { ManagementServer, ManagementServerOptions } from "./options.js";

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
  const metrics = publishMetrics(registry);

  // The cache and the xDS server share the clock: `describe` compares change and push times.
  const cache = new SnapshotCache({ clock });
  const publisher = new Publisher(cache, logger);
  options.unvalidatedResourcesForTests?.((nodeId, resources) => publisher.setOwnResources(nodeId, resources));
  let xdsServer: XdsServer | undefined;
  /** The relay's hub, made further down: the insights read its clusters once it exists. */
  let hubRef: RelayHub | undefined;
  const history = new ResourceHistory();
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
  /** The custom resources' source, told of each publication so that their statuses follow. */
  let kube: KubeSource | undefined;
  const loop = new PublishLoop({
    store,
    desired,
    translator,
    openApi,
    publisher,
    hub: hub || undefined,
    tracing,
    clock,
    logger,
    metrics,
    afterPublish: (published) =>
      afterPublish({ kube: () => kube, metrics, insights, history, clock, logger }, published),
  });

  const debounce = new Debouncer(loop.run, {
    quietMs: options.debounce?.quietMs ?? 100,
    maxDelayMs: options.debounce?.maxDelayMs ?? 1_000,
    // A lone change (one apply after a calm spell) is translated at once; bursts are still collapsed.
    leading: true,
    timers: clock,
  });
  const unwatch = store.watch(() => debounce.trigger());

  let configDir: ConfigDirSource | undefined;
  let relay: RelayPort | undefined;
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
        loop.configDirLoaded(result.rejected);
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
        revision: () => loop.publishedRevision,
        status: (key) => loop.status(key),
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
    relay = await startRelayPort(hub, options.relay, { host: options.host, logger, registry, clock }).catch(abandon);
  }
  await insights.start();

  const proxySources = { xds, hub: hub || undefined, serverName };
  const deps = managementDeps({
    ...proxySources,
    store,
    desired,
    debounce,
    translate: options.translate ?? {},
    loop,
    publisher,
    cache,
    insights,
    history,
    clock,
    dataPlaneRates: options.dataPlaneRates,
    graphRates: options.graphRates,
    statusListeners,
  });
  const clusterRegistry = options.relay?.registry;
  const reports =
    hub && clusterRegistry ? new ClusterReports(hub, clusterRegistry, { serverName, logger, clock }) : undefined;
  const stopRelay = async () => {
    reports?.stop();
    await relay?.stop(1_000);
    await reports?.report();
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
      return loop.publishedRevision;
    },
    get ready() {
      return loop.ready;
    },
    status: (key) => loop.status(key),
    proxies: () => proxyViews(proxySources),
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
