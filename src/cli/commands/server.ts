// `gantry server`: the command and its startup (store, Redis, leader election, the server, admission,
// telemetry, shutdown). Its flags are in server-flags.ts, their turning into the server's options
// in server-options.ts.
import type { Command } from "commander";
import { createLogger, createRegistry, type Readiness, startTelemetryServer, TlsFileWatch } from "../../lib/index.js";
import { createRedis } from "../../lib/redis.js";
import { startManagementServer } from "../../server/index.js";
import { MemoryStore, RedisStore, type ResourceStore } from "../../store/index.js";
import { tlsFilesFromFlags, tracingFromFlags } from "../options.js";
import { stopOnSignal } from "../signals.js";
import { addServerFlags, checkServerFlags, flagGiven, readApiToken, type ServerFlags } from "./server-flags.js";
import { kubeClientOf, startAdmission, startLeaderElection } from "./server-kube.js";
import { managementServerOptions } from "./server-options.js";
import { openClusterRegistry } from "./server-relay.js";
import { apiTokensFromFlags, type UiFlags, uiFromFlags } from "./server-ui.js";

// Their old home: other commands and tests may import them from here.
export { checkServerFlags, readApiToken } from "./server-flags.js";

export function registerServer(program: Command): void {
  const command = program
    .command("server")
    .description(
      "run the management server: resource store, translation, xDS (ADS SotW + delta) and the management API",
    );
  addServerFlags(command);
  command.action(async (flags: ServerFlags & UiFlags) => {
    const token = readApiToken(flags.apiTokenFile);
    const secretsToken = readApiToken(
      flags.apiSecretsTokenFile,
      "--api-secrets-token-file",
      "GANTRY_API_SECRETS_TOKEN",
    );
    const apiTokens = apiTokensFromFlags(flags);
    const ui = uiFromFlags(flags);
    checkServerFlags(flags, token, secretsToken, apiTokens !== undefined || ui.oidc !== undefined, flagGiven(command));
    const kube = await kubeClientOf(flags);
    const xdsTls = tlsFilesFromFlags(flags, "xds");
    const apiTls = tlsFilesFromFlags(flags, "api");
    const metricsTls = tlsFilesFromFlags(flags, "metrics");
    const logger = createLogger({ service: "server", level: flags.logLevel });
    if (ui.oidc && flags.uiSessionKeyFile === undefined) {
      logger.warn(
        "OIDC sign-in sessions are sealed with a key of this process: they hold on this replica only, until it restarts (give every replica the same --ui-session-key-file)",
      );
    }
    let store: ResourceStore;
    if (flags.redisUrl) {
      const redisStore = new RedisStore({ url: flags.redisUrl, commandTimeoutMs: flags.redisTimeoutMs, logger });
      await redisStore.ready(10_000);
      store = redisStore;
    } else {
      store = new MemoryStore();
    }
    const registry = createRegistry("server");
    // Every replica watches and serves; the Lease holder alone writes statuses.
    const election = kube ? startLeaderElection(flags, kube, registry, logger) : undefined;
    const tracing = tracingFromFlags(flags, "gantry-server");
    // History and silences live beside the resources; the same Redis is probed for its health.
    const insightsRedis =
      flags.redisUrl === undefined
        ? undefined
        : createRedis({
            url: flags.redisUrl,
            commandTimeoutMs: flags.redisTimeoutMs,
            connectionName: "gantry-insights",
            logger,
          });
    const opened = flags.relayPort === undefined ? undefined : await openClusterRegistry(flags);
    const clusters = opened?.registry;
    if (clusters && !flags.redisUrl && !flags.relayCaCertFile) {
      logger.warn(
        "the relay CA lives in memory: a restart makes a new one, and enrolled agents must register again (give --redis-url or --relay-ca-cert-file)",
      );
    }
    if (
      opened &&
      !opened.trust.brought &&
      flags.caKeyEncryptionKeyFile === undefined &&
      !process.env["GANTRY_CA_KEY_ENCRYPTION_KEY"]
    ) {
      logger.warn(
        "the workload root CA key is stored unencrypted: give --ca-key-encryption-key-file (docs/security.md)",
      );
    }
    const server = await startManagementServer(
      managementServerOptions({
        flags,
        store,
        token,
        secretsToken,
        apiTokens,
        ui,
        insightsRedis,
        opened,
        kube,
        election,
        tracing,
        xdsTls,
        apiTls,
        logger,
        registry,
      }),
    );
    const admission = await startAdmission(flags, kube, clusters, logger);
    const telemetry = await startTelemetryServer({
      registry,
      host: flags.host,
      port: flags.metricsPort,
      logger,
      ...(metricsTls ? { tls: new TlsFileWatch(metricsTls, { logger }) } : {}),
      readiness: async (): Promise<Readiness> => {
        if (!server.ready) return { ready: false, reason: "no translation published yet" };
        const leader = election ? [election.detail()] : [];
        if (!store.ping) return { ready: true, ...(leader.length > 0 ? { detail: leader } : {}) };
        // A PING within the Redis deadline: a hung Redis (socket open, no answer) is not ready either.
        const problem = await store.ping().then(
          () => undefined,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        const detail = [`management redis: ${problem ?? "ok"}`, ...leader];
        return problem === undefined ? { ready: true, detail } : { ready: false, reason: problem, detail };
      },
      readinessTimeoutMs: flags.redisTimeoutMs + 1_000,
    });
    logger.info(
      {
        xds: server.xdsPort,
        api: server.apiPort,
        ...(server.relayPort === undefined ? {} : { relay: server.relayPort }),
        ...(admission ? { admission: admission.port } : {}),
        metrics: telemetry.port,
        store: flags.redisUrl ? "redis" : "memory",
        tls: { xds: xdsTls !== undefined, api: apiTls !== undefined },
      },
      "gantry server started",
    );
    await stopOnSignal(async () => {
      logger.info("stopping");
      // The Lease is released first, so another replica takes over the status writes at once.
      await election?.elector.stop();
      await server.stop();
      await admission?.close();
      await telemetry.close();
      insightsRedis?.disconnect();
      await clusters?.close();
      await store.close();
    });
  });
}
