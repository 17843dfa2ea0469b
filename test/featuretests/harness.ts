// One real management server per test file, driven only through its public doors: the management
// API (the client `gantry apply/get/delete/describe` use) and xDS on the wire.
import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll } from "vitest";
import { connect, type ManagementClient } from "../../src/cli/api-client.js";
import { ResourceStatus_State } from "../../src/gen/gantry/v1/status_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { AdsConnection, type DeltaAds, type NodeInfo, type SotwAds } from "./ads.js";
import type { Document } from "./resources.js";

export { AUTH, CDS, EDS, LDS, RDS, RLS, SDS } from "./ads.js";

/** Where the server tells proxies the ext-auth and rate-limit services are (their clusters). */
export const extAuthAddress = { host: "127.0.0.1", port: 8083 };
export const rateLimitAddress = { host: "127.0.0.1", port: 8081 };

/** A resource's status as the API reports it: the state's name and the messages. */
export interface StatusView {
  state: string;
  messages: string[];
}

export interface FeatureServer {
  readonly api: ManagementClient;
  /** Applies documents through the API and waits until the server has published the result. */
  apply(...documents: Document[]): Promise<void>;
  /** Deletes resources (`Kind/namespace/name`) through the API and waits for the publication. */
  delete(...keys: string[]): Promise<void>;
  /** Deletes every resource of a namespace (for tests whose outputs other tests' nodes would see). */
  clear(namespace: string): Promise<void>;
  /** The xDS address, host:port, for clients other than the harness's own. */
  readonly xdsAddress: string;
  /** Every resource's status in a namespace, by `Kind/namespace/name`. */
  statuses(namespace: string): Promise<Record<string, StatusView>>;
  /** Opens a SotW ADS stream as the node; it is closed after the test. */
  sotw(node: NodeInfo): SotwAds;
  /** Opens a delta ADS stream as the node; it is closed after the test. */
  delta(node: NodeInfo): DeltaAds;
}

const logger = createLogger({ service: "featuretests", level: "silent" });

function refOf(key: string): { kind: string; namespace: string; name: string } {
  const [kind = "", namespace = "", name = ""] = key.split("/");
  return { kind, namespace, name };
}

/**
 * Starts a management server (in-memory store, free loopback ports) before the file's tests and
 * stops it after; streams a test opens are closed after it. Tests in one file share the server,
 * so each uses its own namespace and node labels.
 */
export function featureServer(): FeatureServer {
  let server: ManagementServer | undefined;
  let api: ManagementClient | undefined;
  let ads: AdsConnection | undefined;
  const streams: Array<{ close(): void }> = [];

  beforeAll(async () => {
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      translate: { extAuth: extAuthAddress, rateLimit: rateLimitAddress },
      logger,
      registry: createRegistry("featuretests", { processMetrics: false }),
    });
    api = connect({ server: `http://127.0.0.1:${server.apiPort}` });
    ads = new AdsConnection(`127.0.0.1:${server.xdsPort}`);
  });

  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });

  afterAll(async () => {
    ads?.close();
    await server?.stop();
  });

  const started = () => {
    if (!server || !api || !ads) throw new Error("the feature server is not started (use it inside tests)");
    return { server, api, ads };
  };

  return {
    get api() {
      return started().api;
    },
    async apply(...documents) {
      const { server, api } = started();
      await api.apply({ documents: documents as unknown as JsonObject[] });
      await server.settle();
    },
    async delete(...keys) {
      const { server, api } = started();
      await api.delete({ refs: keys.map(refOf) });
      await server.settle();
    },
    async clear(namespace) {
      const { server, api } = started();
      const { resources } = await api.list({ namespace });
      const refs = resources.flatMap((r) => (r.ref ? [r.ref] : []));
      if (refs.length === 0) return;
      await api.delete({ refs });
      await server.settle();
    },
    get xdsAddress() {
      return `127.0.0.1:${started().server.xdsPort}`;
    },
    async statuses(namespace) {
      const { resources } = await started().api.list({ namespace });
      const out: Record<string, StatusView> = {};
      for (const resource of resources) {
        const ref = resource.ref;
        if (!ref) continue;
        const status = resource.status;
        out[`${ref.kind}/${ref.namespace}/${ref.name}`] = status
          ? { state: ResourceStatus_State[status.state] ?? String(status.state), messages: [...status.messages] }
          : { state: "NONE", messages: [] };
      }
      return out;
    },
    sotw(node) {
      const stream = started().ads.sotw(node);
      streams.push(stream);
      return stream;
    },
    delta(node) {
      const stream = started().ads.delta(node);
      streams.push(stream);
      return stream;
    },
  };
}

/** An Envoy node selected by gateways through its metadata labels. */
export function envoyNode(id: string, labels: Record<string, string>): NodeInfo {
  return { id, metadata: { labels } };
}

/** A node of one of Gantry's own services, told apart by its metadata `role`. */
export function serviceNode(id: string, role: "extauth" | "ratelimit"): NodeInfo {
  return { id, metadata: { role } };
}

/** The status of an accepted resource. */
export const accepted: StatusView = { state: "ACCEPTED", messages: [] };

/** The status of a resource accepted with warnings. */
export const warning = (...messages: string[]): StatusView => ({ state: "WARNING", messages });

/** The status of a resource refused (it produces nothing). */
export const invalid = (...messages: string[]): StatusView => ({ state: "INVALID", messages });

/** A node in a workload cluster (its metadata `cluster`, as `gantry bootstrap --cluster` writes). */
export function clusterNode(id: string, labels: Record<string, string>, cluster: string): NodeInfo {
  return { id, metadata: { labels, cluster } };
}
