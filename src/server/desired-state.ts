import { parseDocument, type RejectedDocument, type Resource, refKey, resourceKey } from "../resources/index.js";
import type { ResourceDocument, ResourceStore, StoreSnapshot, WriteResult } from "../store/index.js";
import { resourceToDocument } from "./documents.js";
import { type CheckedDocuments, checkDocuments, type DocumentParser } from "./parse-tasks.js";

export type { DocumentParser } from "./parse-tasks.js";

/** Checks an apply's documents somewhere else than on this thread (a worker thread). */
export type DocumentChecker = (documents: readonly unknown[]) => Promise<CheckedDocuments>;

/** The documents of a snapshot as resources, and those that are not valid resources. */
export interface ReadResult {
  resources: Resource[];
  rejected: RejectedDocument[];
}

interface Parsed {
  revision: number;
  resource?: Resource;
  rejected?: RejectedDocument;
}

/**
 * The store's documents as parsed resources, each document parsed once. A document that arrives
 * through the API is parsed and checked once; what is stored is that result in its canonical form,
 * under that result's key; and the parsed resource is kept for the revision it was written at, so
 * translation reads it without parsing it again; the config folder's resources are kept the same
 * way. Documents other writers stored (other replicas) are parsed when first read at a revision.
 */
export class DesiredState {
  readonly #store: ResourceStore;
  readonly #parse: DocumentParser;
  /** By `Kind/namespace/name`: the last parse of each stored document, with the revision it was parsed at. */
  readonly #parsed = new Map<string, Parsed>();
  readonly #checker: DocumentChecker | undefined;

  /** `checker`, when given, checks an apply's documents instead of this thread (see parse-tasks.ts). */
  constructor(store: ResourceStore, parse: DocumentParser = parseDocument, checker?: DocumentChecker) {
    this.#store = store;
    this.#parse = parse;
    this.#checker = checker;
  }

  /**
   * Parses documents as the file loader checks files: the same envelope, names and spec schemas.
   * Either the resources, or every problem, each naming the document (its position in the
   * request), the resource and the field.
   */
  async check(documents: readonly unknown[]): Promise<CheckedDocuments> {
    return this.#checker ? this.#checker(documents) : checkDocuments(documents, this.#parse);
  }

  /**
   * Stores checked resources, all or none, and keeps the parsed form of those that changed.
   * `documents` are their stored forms when already made (in a worker thread).
   */
  async apply(
    resources: readonly Resource[],
    documents: readonly ResourceDocument[] = resources.map(resourceToDocument),
  ): Promise<WriteResult> {
    const result = await this.#store.apply(documents);
    const changed = new Set(result.changed.map(refKey));
    for (const resource of resources) {
      const key = resourceKey(resource);
      if (changed.has(key)) this.#parsed.set(key, { revision: result.revision, resource });
    }
    return result;
  }

  /** A snapshot's documents as resources, parsing only those not yet parsed at their revision. */
  read(snapshot: StoreSnapshot): ReadResult {
    const seen = new Set<string>();
    const out: ReadResult = { resources: [], rejected: [] };
    for (const stored of snapshot.resources) {
      const key = refKey(stored.key);
      seen.add(key);
      let entry = this.#parsed.get(key);
      if (!entry || entry.revision !== stored.revision) {
        const parsed = this.#parse(stored.document, `store:${key}`);
        entry =
          "errors" in parsed
            ? { revision: stored.revision, rejected: parsed }
            : { revision: stored.revision, resource: parsed };
        this.#parsed.set(key, entry);
      }
      if (entry.resource) out.resources.push(entry.resource);
      if (entry.rejected) out.rejected.push(entry.rejected);
    }
    for (const key of this.#parsed.keys()) if (!seen.has(key)) this.#parsed.delete(key);
    return out;
  }
}
