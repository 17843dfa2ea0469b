import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import { AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { ResourceStatusSchema } from "../gen/gantry/v1/status_pb.js";
import { RateLimitConfigSchema } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { type Clock, systemClock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { Counter, Gauge, Histogram, type Registry } from "../lib/metrics.js";
import { configProblems } from "../ratelimit/index.js";
import {
  kindKey,
  namespacedName,
  parseRefKey,
  type RejectedDocument,
  type Resource,
  refKey,
} from "../resources/index.js";
import type { ResourceKey, ResourceStore, StoreSnapshot } from "../store/index.js";
import { State, type Status, type TranslateOptions, type Translation, Translator } from "../translate/index.js";
import { encodeResource, SnapshotCache, startXdsServer, type XdsResource, type XdsServer } from "../xds/index.js";
import { type ManagementDeps, type ProxyStatusView, startManagementApi } from "./api/index.js";
import { type ConfigDirResult, ConfigDirSource } from "./config-dir.js";
import { Debouncer, type Timers } from "./debounce.js";
import { type ConnectedProxy, describeResource } from "./describe.js";
import { DesiredState } from "./desired-state.js";
import { type Publication, Publisher } from "./publish.js";

export interface ManagementServerOptions {
  store: ResourceStore;
  host: string;
  xdsPort: number;
  apiPort: number;
  /** The API bearer token; undefined only with `insecureApi`. */
  apiToken: string | undefined;
  insecureApi?: boolean;
  configDir?: string;
  /** Where Envoy reaches the ext-auth and rate-limit services (served to proxies as clusters). */
  translate?: TranslateOptions;
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  /** Translation debounce: ≈100 ms quiet, ≤ 1 s (as the design says). */
  debounce?: { quietMs: number; maxDelayMs: number; timers?: Timers };
  /** This replica's name in proxy status; defaults to the host name. */
  serverName?: string;
}

export interface ManagementServer {
  readonly xdsPort: number;
  readonly apiPort: number;
  /** Translates now if a change is pending, and waits until published. */
  settle(): Promise<void>;
  /** The revision of the store last translated and published. */
  readonly publishedRevision: number;
  status(key: ResourceKey): Status | undefined;
  proxies(): ProxyStatusView[];
  /** True once a first translation has been published. */
  readonly ready: boolean;
  stop(): Promise<void>;
}

/**
 * The management server: resources from the store (fed by the API and a config folder) are
 * translated after a debounce and published by xDS to proxies, ext-auth servers and rate-limit
 * servers. When translation or the store fails, proxies keep their last good configuration.
 */
export async function startManagementServer(options: ManagementServerOptions): Promise<ManagementServer> {
  const { store, logger, registry } = options;
  const clock = options.clock ?? systemClock;
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
  const xds: XdsServer = await startXdsServer({
    cache,
    host: options.host,
    port: options.xdsPort,
    logger,
    registry,
    clock,
    hooks: {
      onStreamOpen: (stream) => publisher.nodeConnected(stream.node),
      onStreamClose: (stream) => publisher.nodeDisconnected(stream.node),
    },
  });

  const translator = new Translator(options.translate ?? {});
  const desired = new DesiredState(store);
  let statuses = new Map<string, Status>();
  let rateLimits: Translation["rateLimits"] = [];
  let configDirRejected: RejectedDocument[] = [];
  let publishedRevision = -1;
  let ready = false;

  /** Stored documents as resources; the config folder's rejected documents report too. */
  const parseSnapshot = (snapshot: StoreSnapshot) => {
    const { resources, rejected } = desired.read(snapshot);
    return { resources, rejected: [...configDirRejected, ...rejected] };
  };

  const translateAndPublish = async () => {
    const started = performance.now();
    let snapshot: StoreSnapshot;
    try {
      snapshot = await store.snapshot();
    } catch (err) {
      metrics.translations.inc({ result: "store_error" });
      logger.error({ err }, "cannot read the store; proxies keep their configuration");
      throw err;
    }
    try {
      const { resources, rejected } = parseSnapshot(snapshot);
      const translation = translator.translate(resources, rejected);
      const collected = new Map(translation.statuses);
      const publication: Publication = {
        groups: translation.groups,
        authConfigs: authConfigsFor(resources, translation.authConfigIds),
        rateLimitConfigs: rateLimitConfigsFor(translation.rateLimits, collected, logger),
      };
      publisher.update(publication);
      statuses = collected;
      rateLimits = translation.rateLimits;
      publishedRevision = snapshot.revision;
      ready = true;
      metrics.revision.set(snapshot.revision);
      metrics.statuses.reset();
      for (const [key, status] of statuses) {
        metrics.statuses.inc({ kind: parseRefKey(key).kind, state: State[status.state] ?? "UNKNOWN" });
      }
      metrics.translations.inc({ result: "ok" });
      logger.info(
        {
          revision: snapshot.revision,
          gateways: translation.groups.length,
          ms: Math.round(performance.now() - started),
        },
        "published",
      );
    } catch (err) {
      metrics.translations.inc({ result: "error" });
      logger.error({ err }, "translation failed; proxies keep their configuration");
      throw err;
    } finally {
      metrics.translationSeconds.observe((performance.now() - started) / 1000);
    }
  };

  const debounce = new Debouncer(translateAndPublish, {
    quietMs: options.debounce?.quietMs ?? 100,
    maxDelayMs: options.debounce?.maxDelayMs ?? 1_000,
    ...(options.debounce?.timers ? { timers: options.debounce.timers } : {}),
  });
  const unwatch = store.watch(() => debounce.trigger());

  let configDir: ConfigDirSource | undefined;
  if (options.configDir) {
    configDir = new ConfigDirSource({
      dir: options.configDir,
      store,
      logger,
      onLoad: (result: ConfigDirResult) => {
        configDirRejected = result.rejected;
        debounce.trigger();
      },
    });
    await configDir.start();
  }
  debounce.trigger();
  await debounce.flush();

  const proxies = (): ProxyStatusView[] =>
    xds.proxyStatus().map((p) => ({
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
    }));

  /** The connected proxies with, per type, what was sent and ACKed and when their snapshot last changed. */
  const connectedProxies = (): ConnectedProxy[] =>
    xds.proxyStatus().map((p) => {
      const published = cache.snapshot(p.group);
      return {
        nodeId: p.nodeId,
        metadata: p.metadata,
        stream: p.kind,
        types: p.types.map((t) => {
          const changedAt = published?.changedAt.get(t.typeUrl);
          return {
            typeUrl: t.typeUrl,
            held: published?.snapshot.resources(t.typeUrl).size ?? 0,
            ...(changedAt === undefined ? {} : { changedAt }),
            ...(t.sent ? { sent: { nonce: t.sent.nonce, at: t.sent.at } } : {}),
            ...(t.acked ? { acked: { nonce: t.acked.nonce, at: t.acked.at } } : {}),
            ...(t.lastNack
              ? { lastNack: { error: t.lastNack.error, nonce: t.lastNack.nonce, at: t.lastNack.at } }
              : {}),
          };
        }),
      };
    });

  const statusOf = (key: ResourceKey) => statuses.get(refKey(key));
  const deps: ManagementDeps = {
    store,
    desired,
    status: (key) => {
      const status = statusOf(key);
      return status && create(ResourceStatusSchema, { state: status.state, messages: status.messages });
    },
    proxies,
    describe: (kind, namespace, name) => {
      const { groups, authConfigs, rateLimitConfigs } = publisher.publication;
      return {
        publishedRevision,
        description: describeResource(kind, namespace, name, {
          groups,
          rateLimits,
          publishedAuthConfigs: new Set(authConfigs.map((r) => r.name)),
          publishedDomains: new Set(rateLimitConfigs.map((r) => r.name)),
          proxies: connectedProxies(),
        }),
      };
    },
  };
  const api = await startManagementApi({
    host: options.host,
    port: options.apiPort,
    token: options.apiToken,
    ...(options.insecureApi ? { insecure: true } : {}),
    deps,
    logger,
  });

  return {
    xdsPort: xds.port,
    apiPort: api.port,
    settle: () => debounce.flush(),
    get publishedRevision() {
      return publishedRevision;
    },
    get ready() {
      return ready;
    },
    status: statusOf,
    proxies,
    stop: async () => {
      unwatch();
      configDir?.stop();
      debounce.stop();
      await api.close();
      await xds.stop(1_000);
    },
  };
}

/** The AuthConfigs routes name, each with its config id (`namespace/name`). */
function authConfigsFor(resources: readonly Resource[], ids: readonly string[]): XdsResource[] {
  const wanted = new Set(ids);
  const out: XdsResource[] = [];
  for (const resource of resources) {
    if (resource.kind !== "AuthConfig") continue;
    const id = namespacedName(resource.metadata);
    if (!wanted.has(id)) continue;
    out.push(encodeResource(AuthConfigSchema, create(AuthConfigSchema, { ...resource.spec, id }), id));
  }
  return out;
}

/**
 * One RateLimitConfig per domain (what rate-limit servers expect), merging the descriptors of
 * every RateLimitPolicy of that domain. A domain whose merged config a rate-limit server would
 * refuse is not published: its policies get FAILED, and the servers keep what they have.
 */
function rateLimitConfigsFor(
  domains: ReadonlyArray<{ policy: string; domain: string; descriptors: RateLimitConfigDescriptors }>,
  statuses: Map<string, Status>,
  logger: Logger,
): XdsResource[] {
  const byDomain = new Map<string, { policies: string[]; descriptors: RateLimitConfigDescriptors }>();
  for (const d of [...domains].sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0))) {
    const entry = byDomain.get(d.domain) ?? { policies: [], descriptors: [] };
    entry.policies.push(d.policy);
    entry.descriptors.push(...d.descriptors);
    byDomain.set(d.domain, entry);
  }
  const out: XdsResource[] = [];
  for (const [domain, entry] of [...byDomain].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const config = create(RateLimitConfigSchema, { name: domain, domain, descriptors: entry.descriptors });
    const problems = configProblems(config);
    if (problems.length > 0) {
      const message = `rate-limit domain "${domain}" cannot be served: ${problems.map((p) => `${p.path}: ${p.problem}`).join("; ")}`;
      for (const policy of entry.policies) {
        const key = kindKey("RateLimitPolicy", policy);
        const status = statuses.get(key) ?? { state: State.ACCEPTED, messages: [] };
        statuses.set(key, { state: State.FAILED, messages: [...status.messages, message] });
      }
      logger.warn({ domain, problems }, "rate-limit domain not published");
      continue;
    }
    out.push(encodeResource(RateLimitConfigSchema, config, domain));
  }
  return out;
}

type RateLimitConfigDescriptors = ReturnType<typeof create<typeof RateLimitConfigSchema>>["descriptors"];
