import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ClusterExists,
  type ClusterRegistry,
  ClusterStoreError,
  type ClusterView,
  checkClusterName,
  maxTokenTtlMs,
  RegistrationRefused,
} from "../../cluster/index.js";
import { type Cluster, ClusterSchema } from "../../gen/gantry/api/v1/management_pb.js";

/** The management API's cluster calls (AddCluster, RemoveCluster, ListClusters, GetCluster). */

const stamp = (ms: number | undefined) => (ms === undefined ? {} : timestampFromMs(ms));

export function clusterMessage(view: ClusterView): Cluster {
  const report = view.report;
  return create(ClusterSchema, {
    name: view.name,
    state: view.state,
    identity: view.identity,
    created: timestampFromMs(view.createdAtMs),
    tokenExpires: timestampFromMs(view.tokenExpiresAtMs),
    ...(view.tokenUsedAtMs === undefined ? {} : { tokenUsed: stamp(view.tokenUsedAtMs) }),
    certificateSerial: view.certificate?.serial ?? "",
    ...(view.certificate ? { certificateExpires: stamp(view.certificate.notAfterMs) } : {}),
    ...(view.revokedAtMs === undefined ? {} : { revoked: stamp(view.revokedAtMs) }),
    ...(view.lastSeenMs === undefined ? {} : { lastSeen: stamp(view.lastSeenMs) }),
    connected: view.connected,
    server: report?.server ?? "",
    agentVersion: report?.agentVersion ?? "",
    snapshotVersion: report?.snapshotVersion ?? "",
    resources: report?.resources ?? 0,
    proxies: report?.proxies ?? 0,
    stale: report?.staleSinceMs !== undefined,
    ...(report?.staleSinceMs === undefined ? {} : { staleSince: stamp(report.staleSinceMs) }),
  });
}

function failure(err: unknown): never {
  if (err instanceof ClusterExists) throw new ConnectError(err.message, Code.AlreadyExists);
  if (err instanceof RegistrationRefused && err.reason === "cluster_unknown") {
    throw new ConnectError(err.message, Code.NotFound);
  }
  if (err instanceof ClusterStoreError) throw new ConnectError(err.message, Code.Unavailable);
  throw err;
}

function registryOf(registry: ClusterRegistry | undefined): ClusterRegistry {
  if (!registry) {
    throw new ConnectError(
      "this server has no relay for workload clusters: start gantry server with --relay-port",
      Code.FailedPrecondition,
    );
  }
  return registry;
}

function nameOf(name: string): string {
  try {
    return checkClusterName(name, "name");
  } catch (err) {
    throw new ConnectError((err as Error).message, Code.InvalidArgument);
  }
}

const maxTokenTtlSeconds = maxTokenTtlMs / 1000;

export function clusterHandlers(registry: ClusterRegistry | undefined) {
  return {
    async addCluster(request: { name: string; tokenTtlSeconds: bigint }) {
      const clusters = registryOf(registry);
      const name = nameOf(request.name);
      const ttl = Number(request.tokenTtlSeconds);
      if (ttl < 0 || ttl > maxTokenTtlSeconds) {
        throw new ConnectError(
          `token_ttl_seconds ${ttl}: must be between 1 and ${maxTokenTtlSeconds} (0: the server's default)`,
          Code.InvalidArgument,
        );
      }
      const { cluster, token } = await (ttl === 0 ? clusters.add(name) : clusters.add(name, ttl * 1000)).catch(failure);
      return { cluster: clusterMessage(cluster), token };
    },
    async removeCluster(request: { name: string }) {
      const cluster = await registryOf(registry).remove(nameOf(request.name)).catch(failure);
      return { cluster: clusterMessage(cluster) };
    },
    async listClusters() {
      const clusters = await registryOf(registry).list().catch(failure);
      return { clusters: clusters.map(clusterMessage) };
    },
    async getCluster(request: { name: string }) {
      const name = nameOf(request.name);
      const cluster = await registryOf(registry).get(name).catch(failure);
      if (!cluster) throw new ConnectError(`cluster ${name} is not registered`, Code.NotFound);
      return { cluster: clusterMessage(cluster) };
    },
  };
}
