// The management API's calls made for the dashboard, each one answer instead of many: Overview
// (counts only), Graph (the whole graph from the last published translation) and GraphRates
// (Prometheus rates on its edges). Like every call, the CLI and scripts may use them too.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ClusterRegistry } from "../../cluster/index.js";
import { GraphRatesResponseSchema, GraphResponseSchema } from "../../gen/gantry/api/v1/graph_pb.js";
import { type KindCounts, KindCountsSchema, OverviewResponseSchema } from "../../gen/gantry/api/v1/overview_pb.js";
import { type ResourceStatus, ResourceStatus_State } from "../../gen/gantry/v1/status_pb.js";
import { codeInfo, isSilenced } from "../../insights/index.js";
import type { ResourceKey, ResourceStore } from "../../store/index.js";
import type { Graph } from "../graph.js";
import type { EdgeRate } from "../graph-rates.js";
import type { InsightsDeps } from "./insights.js";

export interface DashboardDeps {
  store: ResourceStore;
  status(key: ResourceKey): ResourceStatus | undefined;
  clients?(): ReadonlyArray<{ inSync: number; pending: number; nacked: number }>;
  insights?: InsightsDeps;
  clusters?: ClusterRegistry;
  /** The graph of the last published translation; without it, Graph answers UNIMPLEMENTED. */
  graph?(): { publishedRevision: number; graph: Graph };
  /** Rates on those edges from Prometheus; without it (no --prometheus-url), GraphRates answers FAILED_PRECONDITION. */
  graphRates?(graph: Graph): Promise<{ windowSeconds: number; edges: EdgeRate[] }>;
}

const stateKeys: Record<ResourceStatus_State, "accepted" | "warning" | "invalid" | "failed" | "pending"> = {
  [ResourceStatus_State.STATE_UNSPECIFIED]: "pending",
  [ResourceStatus_State.ACCEPTED]: "accepted",
  [ResourceStatus_State.WARNING]: "warning",
  [ResourceStatus_State.INVALID]: "invalid",
  [ResourceStatus_State.FAILED]: "failed",
};

export function dashboardHandlers(deps: DashboardDeps) {
  const graphOrFail = () => {
    if (!deps.graph) throw new ConnectError("this server draws no graph", Code.Unimplemented);
    return deps.graph();
  };
  return {
    async overview() {
      const snapshot = await deps.store.snapshot().catch((err: unknown) => {
        throw new ConnectError(`the store: ${(err as Error).message}`, Code.Unavailable);
      });
      const kinds = new Map<string, KindCounts>();
      for (const stored of snapshot.resources) {
        let counts = kinds.get(stored.key.kind);
        if (!counts) {
          counts = create(KindCountsSchema, { kind: stored.key.kind });
          kinds.set(stored.key.kind, counts);
        }
        counts.total += 1;
        counts[stateKeys[deps.status(stored.key)?.state ?? ResourceStatus_State.STATE_UNSPECIFIED]] += 1;
      }
      const clients = deps.clients?.() ?? [];
      const insights = { error: 0, warning: 0, info: 0, redis: 0 };
      if (deps.insights) {
        const silences = await deps.insights.refreshSilences().catch(() => deps.insights?.silences ?? []);
        for (const insight of deps.insights.active()) {
          if (isSilenced(insight, silences)) continue;
          insights[insight.severity === "ERROR" ? "error" : insight.severity === "WARNING" ? "warning" : "info"] += 1;
          if (codeInfo(insight.code).name.startsWith("Redis")) insights.redis += 1;
        }
      }
      const clusters = deps.clusters
        ? await deps.clusters.list().catch((err: unknown) => {
            throw new ConnectError(`the cluster registry: ${(err as Error).message}`, Code.Unavailable);
          })
        : undefined;
      return create(OverviewResponseSchema, {
        revision: BigInt(snapshot.revision),
        proxies: {
          connected: clients.length,
          inSync: clients.filter((c) => c.nacked === 0 && c.pending === 0).length,
          pending: clients.filter((c) => c.nacked === 0 && c.pending > 0).length,
          nacking: clients.filter((c) => c.nacked > 0).length,
        },
        ...(clusters
          ? {
              clusters: {
                registered: clusters.length,
                connected: clusters.filter((c) => c.connected).length,
                stale: clusters.filter((c) => c.report?.staleSinceMs !== undefined).length,
              },
            }
          : {}),
        insights,
        resources: [...kinds.values()].sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0)),
      });
    },

    async graph() {
      const { publishedRevision, graph } = graphOrFail();
      return create(GraphResponseSchema, { publishedRevision: BigInt(publishedRevision), ...graph });
    },

    async graphRates() {
      if (!deps.graphRates) {
        throw new ConnectError(
          "this server reads no metrics for the graph: start it with --prometheus-url",
          Code.FailedPrecondition,
        );
      }
      const { graph } = graphOrFail();
      const rates = await deps.graphRates(graph).catch((err: unknown) => {
        throw new ConnectError((err as Error).message, Code.Unavailable);
      });
      return create(GraphRatesResponseSchema, rates);
    },
  };
}
