// `gantry server`'s flags, and what the command opened from them (store, Redis, cluster registry,
// Kubernetes), turned into `startManagementServer`'s options.
import {
  defaultRetention,
  MemoryInsightHistory,
  PrometheusSource,
  RedisInsightHistory,
  registrySource,
} from "../../insights/index.js";
import type { KubeApi } from "../../kubernetes/index.js";
import { systemClock } from "../../lib/clock.js";
import type { Logger, Registry, TlsFiles, TracingOptions } from "../../lib/index.js";
import type { RedisClient } from "../../lib/redis.js";
import {
  type ManagementServerOptions,
  PrometheusGraphRates,
  RedisSignOuts,
  type TokenEntry,
  type UiOptions,
} from "../../server/index.js";
import type { ResourceStore } from "../../store/index.js";
import { configLimits } from "../options.js";
import { apiLimitsOf, type ServerFlags } from "./server-flags.js";
import type { LeaderElection } from "./server-kube.js";
import type { openClusterRegistry } from "./server-relay.js";

/** What `gantry server` opened before the server starts. */
export interface ServerParts {
  flags: ServerFlags;
  store: ResourceStore;
  token: string | undefined;
  secretsToken: string | undefined;
  apiTokens: TokenEntry[] | undefined;
  ui: UiOptions;
  /** The management Redis' second connection (insights, sign-outs), when there is one. */
  insightsRedis: RedisClient | undefined;
  opened: Awaited<ReturnType<typeof openClusterRegistry>> | undefined;
  kube: KubeApi | undefined;
  election: LeaderElection | undefined;
  tracing: TracingOptions | undefined;
  xdsTls: TlsFiles | undefined;
  apiTls: TlsFiles | undefined;
  logger: Logger;
  registry: Registry;
}

export function managementServerOptions(parts: ServerParts): ManagementServerOptions {
  const { flags, store, token, secretsToken, apiTokens, ui, insightsRedis, opened, kube, election, tracing } = parts;
  const { xdsTls, apiTls, logger, registry } = parts;
  const retention = { ...defaultRetention, maxEntries: flags.insightsHistoryMax };
  return {
    ...(tracing ? { tracing } : {}),
    store,
    host: flags.host,
    xdsPort: flags.xdsPort,
    apiPort: flags.apiPort,
    apiToken: token,
    ...(secretsToken === undefined ? {} : { apiSecretsToken: secretsToken }),
    ...(apiTokens ? { apiTokens } : {}),
    // Sign-outs in the management Redis hold on every replica; in memory, on this one only.
    ui:
      ui.oidc && insightsRedis
        ? { ...ui, oidc: { ...ui.oidc, signOuts: new RedisSignOuts(insightsRedis, systemClock) } }
        : ui,
    ...(flags.prometheusUrl
      ? {
          dataPlaneRates: new PrometheusSource(flags.prometheusUrl),
          graphRates: new PrometheusGraphRates(flags.prometheusUrl),
        }
      : {}),
    apiLimits: apiLimitsOf(flags),
    ...(flags.insecureApi ? { insecureApi: true } : {}),
    ...(flags.configDir ? { configDir: flags.configDir } : {}),
    configLimits: configLimits(flags),
    translate: {
      // Workload identities (AccessPolicy sources, destinations' server identities) share it.
      trustDomain: flags.trustDomain,
      ...(flags.extauthAddress ? { extAuth: flags.extauthAddress } : {}),
      ...(flags.ratelimitAddress ? { rateLimit: flags.ratelimitAddress } : {}),
    },
    ...(flags.serverName ? { serverName: flags.serverName } : {}),
    ...(xdsTls ? { xdsTls } : {}),
    ...(apiTls ? { apiTls } : {}),
    xdsLimits: {
      maxConnections: flags.xdsMaxConnections,
      maxTotalStreams: flags.xdsMaxTotalStreams,
      maxRequestBytes: flags.xdsMaxRequestBytes,
      maxStreamsPerConnection: flags.xdsMaxStreamsPerConnection,
      maxBufferedBytes: flags.xdsMaxBufferedBytes,
      writeStallMs: flags.xdsWriteStallMs,
    },
    ...(flags.relayPort === undefined
      ? {}
      : { relay: { port: flags.relayPort, ...(opened ? { registry: opened.registry, trust: opened.trust } : {}) } }),
    ...(kube
      ? {
          kubernetes: {
            api: kube,
            ...(flags.kubeNamespace ? { namespace: flags.kubeNamespace } : {}),
            ...(election ? { leadership: election.elector } : {}),
          },
        }
      : {}),
    logger,
    registry,
    insights: {
      history: insightsRedis
        ? new RedisInsightHistory(insightsRedis, systemClock, retention)
        : new MemoryInsightHistory(systemClock, retention),
      ...(insightsRedis ? { redis: [{ role: "management", client: insightsRedis }] } : {}),
      metrics: flags.prometheusUrl
        ? new PrometheusSource(flags.prometheusUrl)
        : registrySource([registry], () => systemClock.now()),
      intervalMs: flags.insightsIntervalMs,
    },
  };
}
