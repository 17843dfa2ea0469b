import { createHash } from "node:crypto";
import type { XdsResource } from "../envoy/index.js";

export class SnapshotError extends Error {
  constructor(
    readonly problems: readonly string[],
    group?: string,
  ) {
    super(`${group === undefined ? "snapshot" : `snapshot for "${group}"`} rejected: ${problems.join("; ")}`);
    this.name = "SnapshotError";
  }
}

const noResources: ReadonlyMap<string, XdsResource> = new Map();

/** The version of a set of resources: a hash of their names and versions, in name order. */
export function versionOfSet(resources: Iterable<XdsResource>): string {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash("sha256");
  for (const resource of sorted) hash.update(resource.name).update("\0").update(resource.version).update("\n");
  return hash.digest("hex").slice(0, 16);
}

/**
 * An immutable set of resources for one node or group, by type URL and name, with a version per
 * type (a hash over its resources' names and versions).
 */
export class Snapshot {
  readonly #byType: ReadonlyMap<string, ReadonlyMap<string, XdsResource>>;
  readonly #versions: ReadonlyMap<string, string>;

  private constructor(byType: Map<string, Map<string, XdsResource>>) {
    this.#byType = byType;
    this.#versions = new Map([...byType].map(([typeUrl, resources]) => [typeUrl, versionOfSet(resources.values())]));
  }

  /** Builds a snapshot; a name given twice within one type is an error. */
  static of(resources: Iterable<XdsResource>): Snapshot {
    const byType = new Map<string, Map<string, XdsResource>>();
    const problems: string[] = [];
    for (const resource of resources) {
      let ofType = byType.get(resource.typeUrl);
      if (!ofType) {
        ofType = new Map();
        byType.set(resource.typeUrl, ofType);
      }
      if (ofType.has(resource.name)) problems.push(`${resource.typeUrl} "${resource.name}" is given twice`);
      ofType.set(resource.name, resource);
    }
    if (problems.length > 0) throw new SnapshotError(problems);
    return new Snapshot(byType);
  }

  /** This snapshot with the resources of one type replaced (an empty list removes the type). */
  withType(typeUrl: string, resources: Iterable<XdsResource>): Snapshot {
    const rest = [...this.#byType].filter(([t]) => t !== typeUrl).flatMap(([, r]) => [...r.values()]);
    const replacement = [...resources];
    for (const resource of replacement) {
      if (resource.typeUrl !== typeUrl) {
        throw new SnapshotError([`resource "${resource.name}" has type ${resource.typeUrl}, expected ${typeUrl}`]);
      }
    }
    return Snapshot.of([...rest, ...replacement]);
  }

  get typeUrls(): string[] {
    return [...this.#byType.keys()];
  }

  /** Every resource, type by type. */
  all(): XdsResource[] {
    return [...this.#byType.values()].flatMap((resources) => [...resources.values()]);
  }

  resources(typeUrl: string): ReadonlyMap<string, XdsResource> {
    return this.#byType.get(typeUrl) ?? noResources;
  }

  /** The version of one type: equal for equal contents, including for an absent type (empty). */
  version(typeUrl: string): string {
    return this.#versions.get(typeUrl) ?? emptyVersion;
  }
}

const emptyVersion = versionOfSet([]);

/**
 * What differs from one snapshot to the next: per type whose version changed, the names added, removed
 * or at another version. A stream none of whose subscribed names is among them has nothing to send.
 */
export type SnapshotChanges = ReadonlyMap<string, ReadonlySet<string>>;

/** The changes from `previous` to `next` (types at equal versions are not looked into). */
export function changesBetween(previous: Snapshot, next: Snapshot): SnapshotChanges {
  const changes = new Map<string, ReadonlySet<string>>();
  for (const typeUrl of new Set([...previous.typeUrls, ...next.typeUrls])) {
    if (previous.version(typeUrl) === next.version(typeUrl)) continue;
    const before = previous.resources(typeUrl);
    const after = next.resources(typeUrl);
    const names = new Set<string>();
    for (const [name, resource] of after) if (before.get(name)?.version !== resource.version) names.add(name);
    for (const name of before.keys()) if (!after.has(name)) names.add(name);
    changes.set(typeUrl, names);
  }
  return changes;
}
