import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
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
import type { ResourceStatus } from "../../gen/gantry/v1/status_pb.js";
import { defaultNamespace, isKind, type Kind, kinds, refKey, refOf } from "../../resources/index.js";
import {
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  type StoreChange,
  type StoredResource,
  StoreError,
} from "../../store/index.js";
import type { Description } from "../describe.js";
import type { DesiredState } from "../desired-state.js";

/** What the management API needs from the rest of the server. */
export interface ManagementDeps {
  /** Reads and deletes go to the store directly. */
  store: ResourceStore;
  /** Applies go through here: each document is parsed once, and that result is stored and translated. */
  desired: Pick<DesiredState, "check" | "apply">;
  /** The last computed status of a resource, if it was translated. */
  status(key: ResourceKey): ResourceStatus | undefined;
  /** The proxies connected to this replica. */
  proxies(): ProxyStatusView[];
  /** Where a resource stands in the last published translation, and the proxies here it reaches. */
  describe(kind: Kind, namespace: string, name: string): { publishedRevision: number; description: Description };
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

export function managementService(deps: ManagementDeps): ServiceImpl<typeof ManagementService> {
  const toResource = (stored: StoredResource): Resource => {
    const status = deps.status(stored.key);
    return create(ResourceSchema, {
      ref: toRef(stored.key),
      document: stored.document as unknown as JsonObject,
      revision: BigInt(stored.revision),
      ...(status ? { status } : {}),
    });
  };

  return {
    async apply(request) {
      const documents = request.documents.map((d, i) => asDocument(d, i));
      if (documents.length === 0) throw new ConnectError("no documents to apply", Code.InvalidArgument);
      const { resources, problems } = await deps.desired.check(documents);
      if (problems.length > 0) {
        throw new ConnectError(`rejected, nothing was applied:\n${problems.join("\n")}`, Code.InvalidArgument);
      }
      if (request.dryRun) {
        const { revision } = await deps.store.snapshot().catch(storeFailure);
        return { revision: BigInt(revision), changed: [], unchanged: [] };
      }
      const result = await deps.desired.apply(resources).catch(storeFailure);
      const changed = new Set(result.changed.map(refKey));
      const all = resources.map(refOf);
      return {
        revision: BigInt(result.revision),
        changed: all.filter((ref) => changed.has(refKey(ref))).map(toRef),
        unchanged: all.filter((ref) => !changed.has(refKey(ref))).map(toRef),
      };
    },

    async get(request) {
      const key = toKey(request.ref, "ref");
      const stored = await deps.store.get(key).catch(storeFailure);
      if (!stored) throw new ConnectError(`${key.kind} ${key.namespace}/${key.name} not found`, Code.NotFound);
      return { resource: toResource(stored) };
    },

    async list(request) {
      const snapshot = await deps.store.snapshot().catch(storeFailure);
      const resources = snapshot.resources.filter(
        (r) =>
          (!request.kind || r.key.kind === request.kind) &&
          (!request.namespace || r.key.namespace === request.namespace),
      );
      return { revision: BigInt(snapshot.revision), resources: resources.map(toResource) };
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
        if (queue.length >= 1_000)
          queue.splice(0, queue.length, create(WatchEventSchema, { revision: BigInt(change.revision), resync: true }));
        else queue.push(event);
        wake?.();
      };
      const unwatch = deps.store.watch(onChange);
      const aborted = new Promise<void>((resolve) =>
        context.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
      try {
        while (!context.signal.aborted) {
          const next = queue.shift();
          if (next) {
            yield next;
            continue;
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
          wake = undefined;
        }
      } finally {
        unwatch();
      }
    },

    async describe(request) {
      const key = toKey(request.ref, "ref");
      if (!isKind(key.kind)) {
        throw new ConnectError(`unknown kind "${key.kind}" (known: ${kinds.join(", ")})`, Code.NotFound);
      }
      const stored = await deps.store.get(key).catch(storeFailure);
      if (!stored) throw new ConnectError(`${key.kind} ${key.namespace}/${key.name} not found`, Code.NotFound);
      const { publishedRevision, description } = deps.describe(key.kind, key.namespace, key.name);
      return create(DescribeResponseSchema, {
        resource: toResource(stored),
        publishedRevision: BigInt(publishedRevision),
        ...description,
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
      return { proxies };
    },
  };
}
