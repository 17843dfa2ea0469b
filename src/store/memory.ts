import { refKey } from "../resources/index.js";
import {
  canonicalJson,
  checkDocuments,
  compareKeys,
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  type StoreChange,
  type StoredResource,
  type StoreSnapshot,
  type WriteResult,
} from "./types.js";

interface Entry {
  resource: StoredResource;
  canonical: string;
}

/** The in-memory store: the embedded default (`gantry up`) and a stand-in where persistence is not wanted. */
export class MemoryStore implements ResourceStore {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(change: StoreChange) => void>();
  #revision = 0;

  async apply(documents: readonly ResourceDocument[]): Promise<WriteResult> {
    const keys = checkDocuments(documents);
    const writes: Array<{ key: ResourceKey; document: ResourceDocument; canonical: string }> = [];
    documents.forEach((document, i) => {
      const key = keys[i] as ResourceKey;
      const copy = structuredClone(document);
      const canonical = canonicalJson(copy);
      if (this.#entries.get(refKey(key))?.canonical !== canonical) writes.push({ key, document: copy, canonical });
    });
    if (writes.length === 0) return { revision: this.#revision, changed: [] };
    const revision = ++this.#revision;
    for (const { key, document, canonical } of writes) {
      this.#entries.set(refKey(key), { resource: { key, document, revision }, canonical });
    }
    const upserted = writes.map((w) => w.key);
    this.#notify({ kind: "changed", revision, upserted, deleted: [] });
    return { revision, changed: upserted };
  }

  async delete(keys: readonly ResourceKey[]): Promise<WriteResult> {
    const present = keys.filter((key) => this.#entries.has(refKey(key)));
    if (present.length === 0) return { revision: this.#revision, changed: [] };
    const revision = ++this.#revision;
    for (const key of present) this.#entries.delete(refKey(key));
    this.#notify({ kind: "changed", revision, upserted: [], deleted: present });
    return { revision, changed: present };
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    const entry = this.#entries.get(refKey(key));
    return entry && { ...entry.resource, document: structuredClone(entry.resource.document) };
  }

  async list(filter: { kind?: string; namespace?: string } = {}): Promise<StoredResource[]> {
    return [...this.#entries.values()]
      .map((e) => e.resource)
      .filter(
        (r) =>
          (filter.kind === undefined || r.key.kind === filter.kind) &&
          (filter.namespace === undefined || r.key.namespace === filter.namespace),
      )
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((r) => ({ ...r, document: structuredClone(r.document) }));
  }

  async snapshot(): Promise<StoreSnapshot> {
    return { revision: this.#revision, resources: await this.list() };
  }

  watch(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  #notify(change: StoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
