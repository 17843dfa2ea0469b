import type { XdsResource } from "../envoy/index.js";

/** What a client holds of one type once it ACKs a response: by name, and name → version. */
export interface Holding {
  readonly byName: ReadonlyMap<string, XdsResource>;
  readonly versions: ReadonlyMap<string, string>;
}

/**
 * One immutable `Holding` per set of resources, shared by every stream that holds that set: a fleet
 * subscribes alike, and a map per stream of 2,000 clusters and endpoints made 1,000 Envoys cost
 * 400 MiB. Keyed by the set's version (a hash of its names and versions); an entry lives while a
 * stream still holds it.
 */
export class Holdings {
  readonly #byKey = new Map<string, WeakRef<Holding>>();
  readonly #forget = new FinalizationRegistry<string>((key) => {
    if (this.#byKey.get(key)?.deref() === undefined) this.#byKey.delete(key);
  });

  of(typeUrl: string, version: string, resources: readonly XdsResource[]): Holding {
    const key = `${typeUrl}\u0000${version}`;
    const known = this.#byKey.get(key)?.deref();
    if (known) return known;
    const holding: Holding = {
      byName: new Map(resources.map((resource) => [resource.name, resource])),
      versions: new Map(resources.map((resource) => [resource.name, resource.version])),
    };
    this.#byKey.set(key, new WeakRef(holding));
    this.#forget.register(holding, key);
    return holding;
  }
}
