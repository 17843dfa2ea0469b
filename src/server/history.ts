// A small history of each resource's last versions, as the translations saw them, for the API's
// `ResourceHistory` (the dashboard diffs consecutive versions). In memory, per replica: a restart
// starts it again from the store's current versions; a change and its undo between two
// translations (within one debounce) are one translation, so neither shows.
import { refKey } from "../resources/index.js";
import type { ResourceDocument, ResourceKey, StoreSnapshot } from "../store/index.js";

/** Versions kept per resource, newest last. */
export const versionsPerResource = 10;
/** Deleted resources whose history is kept, at most (the oldest deletion goes first). */
const maxDeleted = 1_000;

export interface ResourceVersion {
  /** The store revision at which this version was written (a deletion: the translated revision). */
  revision: number;
  /** When the server translated it (clock ms). */
  seenAt: number;
  /** The document; absent when the resource was deleted. */
  document: ResourceDocument | undefined;
}

export class ResourceHistory {
  readonly #versions = new Map<string, ResourceVersion[]>();
  /** The revision each live resource was last seen at. */
  readonly #current = new Map<string, number>();
  readonly #deleted: string[] = [];

  /** Records what changed since the last recorded snapshot. */
  record(snapshot: StoreSnapshot, seenAt: number): void {
    const present = new Set<string>();
    for (const resource of snapshot.resources) {
      const key = refKey(resource.key);
      present.add(key);
      if (this.#current.get(key) === resource.revision) continue;
      this.#current.set(key, resource.revision);
      this.#push(key, { revision: resource.revision, seenAt, document: resource.document });
    }
    for (const key of [...this.#current.keys()]) {
      if (present.has(key)) continue;
      this.#current.delete(key);
      this.#push(key, { revision: snapshot.revision, seenAt, document: undefined });
      this.#deleted.push(key);
      if (this.#deleted.length > maxDeleted) {
        const oldest = this.#deleted.shift();
        if (oldest !== undefined && !this.#current.has(oldest)) this.#versions.delete(oldest);
      }
    }
  }

  /** The resource's versions, oldest first. */
  versions(key: ResourceKey): readonly ResourceVersion[] {
    return this.#versions.get(refKey(key)) ?? [];
  }

  #push(key: string, version: ResourceVersion): void {
    const list = this.#versions.get(key) ?? [];
    list.push(version);
    if (list.length > versionsPerResource) list.splice(0, list.length - versionsPerResource);
    this.#versions.set(key, list);
  }
}
