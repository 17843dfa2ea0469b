// What the management API needs from the rest of the server, and the plain views of proxies it is
// given: the server (src/server/server.ts) fills them, the handlers read them.
import type { JsonObject } from "@bufbuild/protobuf";
import type { ClusterRegistry } from "../../cluster/index.js";
import type { ResourceStatus } from "../../gen/gantry/v1/status_pb.js";
import type { DataPlaneSample } from "../../insights/index.js";
import type { Kind } from "../../resources/index.js";
import type { ResourceDocument, ResourceKey, ResourceStore } from "../../store/index.js";
import type { TranslateOptions } from "../../translate/index.js";
import type { TrustAuthority } from "../../trust/index.js";
import type { Description } from "../describe.js";
import type { DesiredState } from "../desired-state.js";
import type { DashboardDeps } from "./dashboard.js";
import type { InsightsDeps } from "./insights.js";

/** What the management API needs from the rest of the server. */
export interface ManagementDeps extends Pick<DashboardDeps, "graph" | "graphRates"> {
  /** Reads and deletes go to the store directly. */
  store: ResourceStore;
  /** Applies go through here: each document is parsed once, and that result is stored and translated. */
  desired: Pick<DesiredState, "check" | "apply" | "read">;
  /** As the server translates, for the statuses an apply reports. Default: none. */
  translate?: TranslateOptions;
  /** The last computed status of a resource, if it was translated. */
  status(key: ResourceKey): ResourceStatus | undefined;
  /** The proxies connected to this replica, one per stream. */
  proxies(): ProxyStatusView[];
  /** The same, one per client (node id) over all its streams; none when not given. */
  clients?(): ProxyClientView[];
  /** Where a resource stands in the last published translation, and the proxies here it reaches. */
  describe(kind: Kind, namespace: string, name: string): { publishedRevision: number; description: Description };
  /** The server's insights; without them the insight calls answer UNIMPLEMENTED. */
  insights?: InsightsDeps;
  /** Time for silences' creation. Default the system clock. */
  now?(): number;
  /** The workload clusters' registry; without it (no relay port), cluster calls answer FAILED_PRECONDITION. */
  clusters?: ClusterRegistry;
  /** The workload root CA; without it (no relay port), TrustAdminService answers FAILED_PRECONDITION. */
  trust?: TrustAuthority;
  /**
   * Tells when proxies' ACK/NACK state or the active insights change (Watch with `status`);
   * returns the unsubscribe. Without it, such a Watch gets store events only.
   */
  onStatusChange?(listener: (what: "proxies" | "insights") => void): () => void;
  /** A resource's last versions as this replica translated them, oldest first; none when not given. */
  history?(
    key: ResourceKey,
  ): ReadonlyArray<{ revision: number; seenAt: number; document: ResourceDocument | undefined }>;
  /** The data plane's decisions from Prometheus (`--prometheus-url`); without it, none. */
  dataPlane?(): Promise<DataPlaneSample>;
  /** One client connected to this replica in detail; `undefined` when it is not connected here. */
  describeProxy?(nodeId: string): ProxyDetailView | undefined;
}

/** A client in detail, in plain values (times in clock ms). */
export interface ProxyDetailView {
  nodeId: string;
  metadata: JsonObject;
  streams: string[];
  resources: Array<{
    typeUrl: string;
    name: string;
    state: string;
    version: string;
    clientVersion: string;
    sent: boolean;
    error: string;
    since: number | undefined;
  }>;
  config: JsonObject[];
  lastNack?: { error: string; atMs: number };
}

/** A proxy as the xDS server reports it, in plain values. */
export interface ProxyStatusView {
  nodeId: string;
  metadata: JsonObject;
  stream: string;
  connectedAtMs: number;
  server: string;
  types: Array<{
    typeUrl: string;
    ackedVersion: string;
    ackedNonce: string;
    lastNackError?: string;
    lastNackAtMs?: number;
  }>;
}

/** A client over all its streams, as the ACK ledger counts it, in plain values. */
export interface ProxyClientView {
  nodeId: string;
  metadata: JsonObject;
  streams: string[];
  server: string;
  inSync: number;
  pending: number;
  nacked: number;
  lastNack?: { error: string; atMs: number };
}
