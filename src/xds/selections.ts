// What the streams of a fleet ask for is alike: every Envoy of a gateway names the same 1,000 clusters.
// Each request decodes its own copy of those names, and each stream kept them (and the ACK ledger a
// second copy): at 10,000 streams, 87 KiB of heap per stream. Name sets are interned here, one
// immutable set per distinct list, and what a set selects from a snapshot's type is worked out once per
// (type's resources, set), not per stream. Both live while something still holds them.
import type { XdsResource } from "../envoy/index.js";
import { versionOfSet } from "./snapshot.js";

/** The resources a named subscription selects from one type of a snapshot, in the set's order. */
export interface Selection {
  readonly resources: readonly XdsResource[];
  /** The version of that set of resources (`versionOfSet`). */
  readonly version: string;
}

export class Selections {
  readonly #sets = new Map<string, WeakRef<ReadonlySet<string>>>();
  readonly #forget = new FinalizationRegistry<string>((key) => {
    if (this.#sets.get(key)?.deref() === undefined) this.#sets.delete(key);
  });
  readonly #every = new WeakMap<ReadonlyMap<string, XdsResource>, readonly XdsResource[]>();
  readonly #selected = new WeakMap<ReadonlyMap<string, XdsResource>, WeakMap<ReadonlySet<string>, Selection>>();

  /** One shared, never-changed set per distinct list of names (order kept). */
  names(names: readonly string[]): ReadonlySet<string> {
    const key = names.join("\u0000");
    const known = this.#sets.get(key)?.deref();
    if (known) return known;
    const set: ReadonlySet<string> = new Set(names);
    this.#sets.set(key, new WeakRef(set));
    this.#forget.register(set, key);
    return set;
  }

  /** Every resource of `all`, in its order: what a wildcard subscription selects. */
  every(all: ReadonlyMap<string, XdsResource>): readonly XdsResource[] {
    let resources = this.#every.get(all);
    if (!resources) {
      resources = [...all.values()];
      this.#every.set(all, resources);
    }
    return resources;
  }

  /** What `names` (a set from `names()`) selects from `all`; names `all` lacks are left out. */
  select(all: ReadonlyMap<string, XdsResource>, names: ReadonlySet<string>): Selection {
    let byNames = this.#selected.get(all);
    if (!byNames) {
      byNames = new WeakMap();
      this.#selected.set(all, byNames);
    }
    const known = byNames.get(names);
    if (known) return known;
    const resources: XdsResource[] = [];
    for (const name of names) {
      const resource = all.get(name);
      if (resource) resources.push(resource);
    }
    const selection = { resources, version: versionOfSet(resources) };
    byNames.set(names, selection);
    return selection;
  }
}
