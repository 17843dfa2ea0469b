// ManagementService: apply, get, list, delete, describe, insights, history and data-plane rates;
// Watch, the proxy calls, the dashboard's and the clusters' calls are in their own files.
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { DataPlaneRatesResponseSchema } from "../../gen/gantry/api/v1/dataplane_pb.js";
import { ResourceHistoryResponseSchema } from "../../gen/gantry/api/v1/history_pb.js";
import {
  ApplyResult_Action,
  ApplyResultSchema,
  DescribeResponseSchema,
  type ManagementService,
  type Resource,
  ResourceSchema,
} from "../../gen/gantry/api/v1/management_pb.js";
import { ResourceStatusSchema } from "../../gen/gantry/v1/status_pb.js";
import { systemClock } from "../../lib/clock.js";
import { defaultNamespace, isKind, kinds, redactDocument } from "../../resources/index.js";
import { type ResourceDocument, type StoredResource, StoreError } from "../../store/index.js";
import { Translator } from "../../translate/index.js";
import { type ApplyAction, type ApplyDeps, ApplyRefused, applyResources } from "../apply/index.js";
import type { Description } from "../describe.js";
import { type ApiAuth, callerKey } from "./auth.js";
import { clusterHandlers } from "./clusters.js";
import { dashboardHandlers } from "./dashboard.js";
import type { ManagementDeps } from "./deps.js";
import { type InsightsDeps, insightsOf, listInsights, silenceInsight, unsilenceInsight } from "./insights.js";
import { proxyHandlers } from "./proxies.js";
import { toKey, toRef } from "./refs.js";
import { watchHandler } from "./watch.js";

export type { ManagementDeps, ProxyClientView, ProxyDetailView, ProxyStatusView } from "./deps.js";

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
    ...watchHandler(deps),
    ...proxyHandlers(deps),
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
      return silenceInsight(insightsOrFail(), request, deps.now?.() ?? systemClock.now());
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
  };
}
