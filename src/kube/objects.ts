// Custom resources as gantry/v1 documents: the one translation between what Kubernetes stores and
// what the loader parses, so the source and the admission webhook check an object the same way a
// file's document is checked (same envelope, names, spec schema and messages).
import {
  apiVersion,
  isKind,
  type Kind,
  parseDocument,
  type RejectedDocument,
  type Resource,
} from "../resources/index.js";
import { clustersAnnotation, kubeApiVersion } from "./names.js";

/** What Gantry reads of a Kubernetes object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
  };
  spec?: unknown;
  status?: unknown;
}

/**
 * The gantry/v1 document a custom resource stands for: its kind, name, namespace and labels, the
 * clusters of its `gantry.dev/clusters` annotation, and its spec. Kubernetes' own metadata (uid,
 * versions, annotations, managed fields) and the status are not part of it.
 */
export function documentOf(object: KubeObject): Record<string, unknown> {
  const metadata = object.metadata ?? {};
  const clusters = metadata.annotations?.[clustersAnnotation];
  return {
    apiVersion: object.apiVersion === kubeApiVersion ? apiVersion : object.apiVersion,
    kind: object.kind,
    metadata: {
      name: metadata.name,
      ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(clusters === undefined
        ? {}
        : {
            clusters: clusters
              .split(",")
              .map((c) => c.trim())
              .filter(Boolean),
          }),
    },
    spec: object.spec ?? {},
  };
}

// The loader names where a document came from ("file:line: ..."); an object has no file, so its
// messages start at the resource, exactly as the rest of `gantry apply --dry-run`'s do.
const where = "kubernetes";
const wherePrefix = `${where}:1: `;

function withoutWhere(message: string): string {
  return message.startsWith(wherePrefix) ? message.slice(wherePrefix.length) : message;
}

export type ParsedObject = { resource: Resource } | { rejected: RejectedDocument; errors: string[] };

/** Parses a custom resource as the loader parses a document; errors are the loader's messages without a file. */
export function parseObject(object: KubeObject): ParsedObject {
  const parsed = parseDocument(documentOf(object), where);
  if ("errors" in parsed) return { rejected: parsed, errors: parsed.errors.map(withoutWhere) };
  return { resource: parsed };
}

/** The kind of an object, when it is one of Gantry's. */
export function gantryKindOf(object: KubeObject): Kind | undefined {
  return object.apiVersion === kubeApiVersion && isKind(object.kind) ? object.kind : undefined;
}
