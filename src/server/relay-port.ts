// The management server's relay port for agents: registration and the root CA's TrustService when a
// cluster registry is given (then mTLS from enrolled clusters only), and what this replica's agents
// report, recorded in the cluster registry.
import type { ServerCredentials } from "@grpc/grpc-js";
import { type ClusterRegistry, RelayAuth } from "../cluster/index.js";
import { RegistrationService } from "../gen/gantry/relay/v1/registration_pb.js";
import { TrustService } from "../gen/gantry/relay/v1/trust_pb.js";
import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { Registry } from "../lib/metrics.js";
import { type TrustAuthority, trustService } from "../trust/index.js";
import { type PeerCluster, type RelayHub, startRelayServer } from "./relay/index.js";

/** How often the agents connected to a replica are recorded in the cluster registry. */
const clusterReportIntervalMs = 2_000;

/** `ManagementServerOptions.relay`. */
export interface RelayPortOptions {
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
}

export interface RelayPort {
  readonly port: number;
  /** Stops the registration checks and the port, waiting up to `graceMs` for streams. */
  stop(graceMs: number): Promise<void>;
}

export async function startRelayPort(
  hub: RelayHub,
  options: RelayPortOptions,
  env: { host: string; logger: Logger; registry: Registry; clock: Timers },
): Promise<RelayPort> {
  const { logger } = env;
  const { registry: clusters } = options;
  let relayAuth: RelayAuth | undefined;
  if (clusters) {
    const starting = new RelayAuth({ registry: clusters, metrics: env.registry, logger, timers: env.clock });
    relayAuth = starting;
    await starting.start().catch((err: unknown) => {
      starting.stop();
      throw err;
    });
  }
  const auth = relayAuth;
  const credentials = auth?.serverCredentials() ?? options.credentials;
  // With registration, every stream's certificate is checked against the registry (a removed
  // cluster is refused) and must name the cluster its hello claims.
  const peerCluster: PeerCluster | undefined = auth
    ? async (peer, claimed) => (await auth.verifyPeer({ getAuthContext: () => peer.authContext }, claimed)).cluster
    : options.peerCluster;
  const relay = await startRelayServer({
    hub,
    host: env.host,
    port: options.port,
    ...(credentials ? { credentials } : {}),
    ...(peerCluster ? { peerCluster } : {}),
    ...(auth
      ? {
          services: (server) => {
            server.add(RegistrationService, auth.registrationService());
            const trust = options.trust;
            if (trust)
              server.add(TrustService, trustService({ authority: trust, auth, logger, metrics: env.registry }));
          },
        }
      : {}),
    logger,
  }).catch((err: unknown) => {
    auth?.stop();
    throw err;
  });
  return {
    port: relay.port,
    stop: async (graceMs) => {
      auth?.stop();
      await relay.stop(graceMs);
    },
  };
}

/**
 * What this replica's agents report goes to the cluster registry, shared by every replica: a cluster
 * connected here is reported every few seconds, and once as disconnected when its stream ends.
 */
export class ClusterReports {
  readonly #hub: RelayHub;
  readonly #registry: ClusterRegistry;
  readonly #serverName: string;
  readonly #logger: Logger;
  readonly #reporting: Timer;
  #reportedHere = new Set<string>();

  constructor(
    hub: RelayHub,
    registry: ClusterRegistry,
    options: { serverName: string; logger: Logger; clock: Timers },
  ) {
    this.#hub = hub;
    this.#registry = registry;
    this.#serverName = options.serverName;
    this.#logger = options.logger;
    this.#reporting = options.clock.setInterval(() => void this.report(), clusterReportIntervalMs).unref();
  }

  /** Stops the periodic reports (a last `report()` records the clusters that left). */
  stop(): void {
    this.#reporting.cancel();
  }

  async report(): Promise<void> {
    const connectedNow = new Set<string>();
    for (const view of this.#hub.clusters()) {
      if (view.connected) connectedNow.add(view.name);
      else if (!this.#reportedHere.has(view.name)) continue;
      await this.#registry
        .report(view.name, {
          connected: view.connected,
          server: this.#serverName,
          agentVersion: view.agentVersion,
          snapshotVersion: view.outputVersion,
          resources: view.discovered,
          proxies: view.proxies,
          ...(view.staleSinceMs === undefined ? {} : { staleSinceMs: view.staleSinceMs }),
        })
        .catch((err: unknown) => this.#logger.warn({ err, cluster: view.name }, "cannot record the cluster's report"));
    }
    this.#reportedHere = connectedNow;
  }
}
