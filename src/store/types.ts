/**
 * The management server's desired state: resource documents (`apiVersion`, `kind`, `metadata`,
 * `spec`) kept by kind, namespace and name. The store neither parses nor validates specs (that is
 * the resources module's job, before anything is written); it keeps documents safe, applies a
 * batch all-or-nothing, numbers every change with a store-wide revision, and tells watchers.
 */

import { defaultNamespace, type ResourceRef, refKey } from "../resources/index.js";

/** A stored resource's identity; its string form (`refKey`) is the key in memory and in Redis. */
export type ResourceKey = ResourceRef;

/** A resource document as JSON. `metadata.name` and `kind` are required; `namespace` defaults to "default". */
export interface ResourceDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: unknown;
  [key: string]: unknown;
}

export interface StoredResource {
  readonly key: ResourceKey;
  readonly document: ResourceDocument;
  /** The store revision at which this resource last changed. */
  readonly revision: number;
}

export interface StoreSnapshot {
  readonly revision: number;
  readonly resources: readonly StoredResource[];
}

/** Keys changed at one revision. `resync` means events may have been missed (e.g. a Redis reconnect): re-read everything. */
export type StoreChange =
  | { kind: "changed"; revision: number; upserted: ResourceKey[]; deleted: ResourceKey[] }
  | { kind: "resync"; revision: number };

export interface WriteResult {
  /** The revision after the write (unchanged when nothing changed). */
  revision: number;
  /** Keys whose content changed (identical documents are not rewritten). */
  changed: ResourceKey[];
}

export interface ResourceStore {
  /**
   * Writes all documents, or none of them. Identical documents are left as they are. The answer is
   * the truth: resolved means stored (and watchers told); rejected means nothing changed, even when
   * the backend did not answer in time.
   */
  apply(documents: readonly ResourceDocument[]): Promise<WriteResult>;
  /** Deletes all named resources that exist, or none of them. */
  delete(keys: readonly ResourceKey[]): Promise<WriteResult>;
  get(key: ResourceKey): Promise<StoredResource | undefined>;
  /** Every resource, or those of one kind (and namespace), sorted by kind, namespace, name. */
  list(filter?: { kind?: string; namespace?: string }): Promise<StoredResource[]>;
  /** A consistent view of every resource at one revision. */
  snapshot(): Promise<StoreSnapshot>;
  /** Calls `listener` after each change, from any writer (other replicas too); returns the unsubscribe. */
  watch(listener: (change: StoreChange) => void): () => void;
  /** Rejects (StoreError) when the store cannot answer now, e.g. its Redis is gone or hung. For `/readyz`. */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

export function keyOf(document: ResourceDocument): ResourceKey {
  return {
    kind: document.kind,
    namespace: document.metadata.namespace ?? defaultNamespace,
    name: document.metadata.name,
  };
}

export function compareKeys(a: ResourceKey, b: ResourceKey): number {
  return a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

const namePattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Checks the identity of each document and that no key appears twice; throws StoreError naming the document. */
export function checkDocuments(documents: readonly ResourceDocument[]): ResourceKey[] {
  const seen = new Set<string>();
  return documents.map((document, index) => {
    const where = `document ${index + 1}`;
    if (typeof document.kind !== "string" || document.kind === "") throw new StoreError(`${where}: kind is required`);
    // A '/' would make the key read back as another resource (the key is Kind/namespace/name).
    if (document.kind.includes("/")) throw new StoreError(`${where}: kind "${document.kind}" must not contain '/'`);
    const name = document.metadata?.name;
    if (typeof name !== "string" || !namePattern.test(name)) {
      throw new StoreError(
        `${where} (${document.kind}): metadata.name "${String(name)}" must be lower-case letters, digits, '-' or '.'`,
      );
    }
    const namespace = document.metadata.namespace ?? defaultNamespace;
    if (!namePattern.test(namespace)) {
      throw new StoreError(
        `${where} (${document.kind} ${name}): metadata.namespace "${namespace}" is not a valid name`,
      );
    }
    const key = keyOf(document);
    const text = refKey(key);
    if (seen.has(text)) throw new StoreError(`${where}: ${text} appears twice in one apply`);
    seen.add(text);
    return key;
  });
}

/** A canonical JSON form (sorted object keys), so that identical documents compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
