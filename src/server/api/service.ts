import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ClusterRegistry } from "../../cluster/index.js";
import { DataPlaneRatesResponseSchema } from "../../gen/gantry/api/v1/dataplane_pb.js";
import { ResourceHistoryResponseSchema } from "../../gen/gantry/api/v1/history_pb.js";
import {
  ApplyResult_Action,
  ApplyResultSchema,
  DescribeResponseSchema,
  type ManagementService,
  type ProxyStatus,
  type Resource,
  type ResourceRef,
  ResourceRefSchema,
  ResourceSchema,
  type WatchEvent,
  WatchEventSchema,
} from "../../gen/gantry/api/v1/management_pb.js";
import { DescribeProxyResponseSchema } from "../../gen/gantry/api/v1/proxies_pb.js";
import { type ResourceStatus, ResourceStatusSchema } from "../../gen/gantry/v1/status_pb.js";
import type { DataPlaneSample } from "../../insights/index.js";
import { defaultNamespace, isKind, type Kind, kinds, redactDocument } from "../../resources/index.js";
import {
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  type StoreChange,
  type StoredResource,
  StoreError,
} from "../../store/index.js";
import { type TranslateOptions, Translator } from "../../translate/index.js";
import type { TrustAuthority } from "../../trust/index.js";
import { type ApplyAction, type ApplyDeps, ApplyRefused, applyResources } from "../apply/index.js";
import type { Description } from "../describe.js";
import type { DesiredState } from "../desired-state.js";
import { type ApiAuth, callerKey } from "./auth.js";
import { clusterHandlers } from "./clusters.js";
import { type DashboardDeps, dashboardHandlers } from "./dashboard.js";
import { type InsightsDeps, insightsOf, listInsights, silenceInsight, unsilenceInsight } from "./insights.js";

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

/** A describe answer's xDS resource rows, with times as timestamps. */
function envoyResourcesOf(description: Description) {
  return description.envoyResources.map((resource) => ({
    ...resource,
    clients: resource.clients.map(({ since, typeUrl: _t, name: _n, ...row }) => ({
      ...row,
      ...(since === undefined ? {} : { since: timestampFromMs(since) }),
    })),
  }));
}

const applyActions: Record<ApplyAction, ApplyResult_Action> = {
  created: ApplyResult_Action.CREATED,
  configured: ApplyResult_Action.CONFIGURED,
  unchanged: ApplyResult_Action.UNCHANGED,
};

function toKey(ref: ResourceRef | undefined, field: string): ResourceKey {
  if (!ref?.kind) throw new ConnectError(`${field}.kind is required`, Code.InvalidArgument);
  if (!ref.name) throw new ConnectError(`${field}.name is required`, Code.InvalidArgument);
  return { kind: ref.kind, namespace: ref.namespace || defaultNamespace, name: ref.name };
}

function toRef(key: ResourceKey): ResourceRef {
  return create(ResourceRefSchema, key);
}

function storeFailure(err: unknown): never {
  if (err instanceof StoreError) throw new ConnectError(err.message, Code.Unavailable);
  if (err instanceof ApplyRefused) throw new ConnectError(err.message, Code.FailedPrecondition);
  throw err;
}

function asDocument(value: JsonObject, index: number): ResourceDocument {
  const metadata = value["metadata"];
  if (
    typeof value["kind"] !== "string" ||
    typeof metadata !== "object" ||
    metadata === null ||
    Array.isArray(metadata)
  ) {
    throw new ConnectError(`document ${index + 1}: kind and metadata are required`, Code.InvalidArgument);
  }
  return value as unknown as ResourceDocument;
}

/**
 * Whether a call that asked to see secrets (`show_secrets`) may: only with the secrets token (a
 * viewer is told its role is why).
 * Asking without it is an error rather than a quiet redaction, so a script learns it got no secret.
 */
function mayShowSecrets(asked: boolean, context: HandlerContext, auth: Pick<ApiAuth, "revealsSecrets">): boolean {
  if (!asked) return false;
  const caller = context.values.get(callerKey);
  if (caller.secrets) return true;
  if (caller.role === "viewer") {
    throw new ConnectError("role viewer may not see secret material (show_secrets)", Code.PermissionDenied);
  }
  throw new ConnectError(
    auth.revealsSecrets
      ? "show_secrets needs the secrets token (the server's --api-secrets-token-file); this token may not see secrets"
      : "this server shows no secrets: start it with --api-secrets-token-file to allow callers with that token",
    Code.PermissionDenied,
  );
}

export function managementService(
  deps: ManagementDeps,
  auth: Pick<ApiAuth, "revealsSecrets">,
): ServiceImpl<typeof ManagementService> {
  const applyDeps: ApplyDeps = {
    store: deps.store,
    desired: deps.desired,
    translator: new Translator(deps.translate ?? {}),
  };
  const insightsOrFail = (): InsightsDeps => {
    if (!deps.insights) throw new ConnectError("this server keeps no insights", Code.Unimplemented);
    return deps.insights;
  };
  /** A stored resource as the API shows it: secret material redacted unless `reveal`. */
  const toResource = (stored: StoredResource, reveal: boolean): Resource => {
    const status = deps.status(stored.key);
    const document = stored.document as unknown as JsonObject;
    return create(ResourceSchema, {
      ref: toRef(stored.key),
      document: reveal ? document : redactDocument(document),
      revision: BigInt(stored.revision),
      ...(status ? { status } : {}),
    });
  };

  return {
    ...clusterHandlers(deps.clusters),
    ...dashboardHandlers(deps),
    async apply(request) {
      if (request.documents.length > 0 && request.documentsJson.length > 0) {
        throw new ConnectError(
          "documents and documents_json: send the documents one way, not both",
          Code.InvalidArgument,
        );
      }
      // JSON text is parsed with the checks, in the worker thread; Structs were decoded already.
      const documents: readonly unknown[] =
        request.documentsJson.length > 0 ? request.documentsJson : request.documents.map((d, i) => asDocument(d, i));
      if (documents.length === 0) throw new ConnectError("no documents to apply", Code.InvalidArgument);
      const { resources, problems } = await deps.desired.check(documents);
      if (problems.length > 0) {
        throw new ConnectError(`rejected, nothing was applied:\n${problems.join("\n")}`, Code.InvalidArgument);
      }
      const report = await applyResources(applyDeps, resources, request.dryRun).catch(storeFailure);
      const written = report.dryRun ? [] : report.results;
      return {
        revision: BigInt(report.revision),
        changed: written.filter((r) => r.action !== "unchanged").map((r) => toRef(r.key)),
        unchanged: written.filter((r) => r.action === "unchanged").map((r) => toRef(r.key)),
        dryRun: report.dryRun,
        results: report.results.map((r) =>
          create(ApplyResultSchema, {
            ref: toRef(r.key),
            action: applyActions[r.action],
            status: create(ResourceStatusSchema, { state: r.status.state, messages: r.status.messages }),
            rejected: r.rejected,
            warnings: r.warnings,
          }),
        ),
      };
    },

    async get(request, context) {
      const key = toKey(request.ref, "ref");
      const reveal = mayShowSecrets(request.showSecrets, context, auth);
      const stored = await deps.store.get(key).catch(storeFailure);
      if (!stored) throw new ConnectError(`${key.kind} ${key.namespace}/${key.name} not found`, Code.NotFound);
      return { resource: toResource(stored, reveal) };
    },

    async list(request, context) {
      const reveal = mayShowSecrets(request.showSecrets, context, auth);
      const snapshot = await deps.store.snapshot().catch(storeFailure);
      const resources = snapshot.resources.filter(
        (r) =>
          (!request.kind || r.key.kind === request.kind) &&
          (!request.namespace || r.key.namespace === request.namespace),
      );
      return { revision: BigInt(snapshot.revision), resources: resources.map((r) => toResource(r, reveal)) };
    },

    async delete(request) {
      if (request.refs.length === 0) throw new ConnectError("nothing to delete", Code.InvalidArgument);
      const keys = request.refs.map((ref, i) => toKey(ref, `refs[${i}]`));
      const result = await deps.store.delete(keys).catch(storeFailure);
      return { revision: BigInt(result.revision), deleted: result.changed.map(toRef) };
    },

    async *watch(request, context) {
      const queue: WatchEvent[] = [];
      let wake: (() => void) | undefined;
      let statusEvent: WatchEvent | undefined;
      const onChange = (change: StoreChange) => {
        const event =
          change.kind === "resync"
            ? create(WatchEventSchema, { revision: BigInt(change.revision), resync: true })
            : create(WatchEventSchema, {
                revision: BigInt(change.revision),
                upserted: change.upserted.filter((k) => !request.kind || k.kind === request.kind).map(toRef),
                deleted: change.deleted.filter((k) => !request.kind || k.kind === request.kind).map(toRef),
              });
        if (change.kind === "changed" && event.upserted.length === 0 && event.deleted.length === 0) return;
        // A watcher that does not read is cut off rather than buffered without bound.
        if (queue.length >= 1_000) {
          queue.splice(0, queue.length, create(WatchEventSchema, { revision: BigInt(change.revision), resync: true }));
          statusEvent = undefined;
        } else queue.push(event);
        wake?.();
      };
      // Status events are coalesced: one waiting in the queue takes every later change of its kind.
      const onStatus = (what: "proxies" | "insights") => {
        if (!statusEvent) {
          statusEvent = create(WatchEventSchema, {});
          queue.push(statusEvent);
        }
        if (what === "proxies") statusEvent.proxiesChanged = true;
        else statusEvent.insightsChanged = true;
        wake?.();
      };
      const unwatch = deps.store.watch(onChange);
      const unwatchStatus = request.status ? deps.onStatusChange?.(onStatus) : undefined;
      // A status watcher learns at once that the stream is open (the dashboard's live indicator).
      if (request.status) queue.push(create(WatchEventSchema, {}));
      const aborted = new Promise<void>((resolve) =>
        context.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
      try {
        while (!context.signal.aborted) {
          const next = queue.shift();
          if (next) {
            if (next === statusEvent) statusEvent = undefined;
            yield next;
            continue;
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
          wake = undefined;
        }
      } finally {
        unwatch();
        unwatchStatus?.();
      }
    },

    async describe(request, context) {
      const key = toKey(request.ref, "ref");
      const reveal = mayShowSecrets(request.showSecrets, context, auth);
      if (!isKind(key.kind)) {
        throw new ConnectError(`unknown kind "${key.kind}" (known: ${kinds.join(", ")})`, Code.NotFound);
      }
      const stored = await deps.store.get(key).catch(storeFailure);
      if (!stored) throw new ConnectError(`${key.kind} ${key.namespace}/${key.name} not found`, Code.NotFound);
      const { publishedRevision, description } = deps.describe(key.kind, key.namespace, key.name);
      return create(DescribeResponseSchema, {
        resource: toResource(stored, reveal),
        publishedRevision: BigInt(publishedRevision),
        ...description,
        envoyResources: envoyResourcesOf(description),
        insights: insightsOf(deps.insights, key),
      });
    },

    async listInsights(request) {
      return listInsights(insightsOrFail(), request);
    },

    async silenceInsight(request) {
      return silenceInsight(insightsOrFail(), request, deps.now?.() ?? Date.now());
    },

    async unsilenceInsight(request) {
      return unsilenceInsight(insightsOrFail(), request);
    },

    async resourceHistory(request) {
      if (!request.kind || !request.name) throw new ConnectError("kind and name are required", Code.InvalidArgument);
      const key = { kind: request.kind, namespace: request.namespace || defaultNamespace, name: request.name };
      return create(ResourceHistoryResponseSchema, {
        versions: (deps.history?.(key) ?? []).map((v) => ({
          revision: BigInt(v.revision),
          seenAt: timestampFromMs(v.seenAt),
          deleted: v.document === undefined,
          ...(v.document ? { document: redactDocument(v.document as unknown as JsonObject) } : {}),
        })),
      });
    },

    async dataPlaneRates() {
      if (!deps.dataPlane) {
        throw new ConnectError(
          "this server reads no data-plane metrics: start it with --prometheus-url",
          Code.FailedPrecondition,
        );
      }
      const sample = await deps.dataPlane().catch((err: unknown) => {
        throw new ConnectError(`Prometheus: ${(err as Error).message}`, Code.Unavailable);
      });
      return create(DataPlaneRatesResponseSchema, {
        windowSeconds: Math.round(sample.windowSeconds),
        ...(sample.extAuth ? { extAuth: sample.extAuth } : {}),
        ...(sample.rateLimit ? { rateLimit: sample.rateLimit } : {}),
      });
    },

    async describeProxy(request) {
      if (!request.nodeId) throw new ConnectError("node_id is required", Code.InvalidArgument);
      const detail = deps.describeProxy?.(request.nodeId);
      if (!detail) {
        throw new ConnectError(`proxy ${request.nodeId} is not connected to this server replica`, Code.NotFound);
      }
      const { lastNack, resources, ...rest } = detail;
      return create(DescribeProxyResponseSchema, {
        ...rest,
        resources: resources.map(({ since, ...r }) => ({
          ...r,
          ...(since === undefined ? {} : { since: timestampFromMs(since) }),
        })),
        ...(lastNack ? { lastNackError: lastNack.error, lastNackTime: timestampFromMs(lastNack.atMs) } : {}),
      });
    },

    async listProxies() {
      const proxies: ProxyStatus[] = deps.proxies().map((p) => ({
        $typeName: "gantry.api.v1.ProxyStatus",
        nodeId: p.nodeId,
        metadata: p.metadata,
        stream: p.stream,
        connectedAt: timestampFromMs(p.connectedAtMs),
        server: p.server,
        types: p.types.map((t) => ({
          $typeName: "gantry.api.v1.TypeStatus",
          typeUrl: t.typeUrl,
          ackedVersion: t.ackedVersion,
          ackedNonce: t.ackedNonce,
          lastNackError: t.lastNackError ?? "",
          ...(t.lastNackAtMs === undefined ? {} : { lastNackTime: timestampFromMs(t.lastNackAtMs) }),
        })),
      }));
      const clients = (deps.clients?.() ?? []).map(({ lastNack, ...client }) => ({
        ...client,
        ...(lastNack ? { lastNackError: lastNack.error, lastNackTime: timestampFromMs(lastNack.atMs) } : {}),
      }));
      return { proxies, clients };
    },
  };
}
