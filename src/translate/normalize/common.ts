// What every normalization step shares: resources indexed by kind and name, name rules.
import { re2Problem } from "../../lib/re2.js";
import { type Kind, namespacedName, type Resource, type ResourceOf, resourceKey } from "../../resources/index.js";

type Named<K extends Kind> = Map<string, ResourceOf<K>>;

export const headerName = /^:?[0-9a-z!#$%&'*+\-.^_|~`]+$/;
export const defaultConnectTimeoutMs = 5000;

function byKey<T extends Resource>(resources: T[]): T[] {
  return resources.sort((a, b) => {
    const ka = resourceKey(a);
    const kb = resourceKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

export function nsName(resource: Resource): string {
  return namespacedName(resource.metadata);
}

/** Why Envoy or a gRPC client would refuse the regex (RE2 syntax and Envoy's program-size limit), or undefined. */
export function validRegex(pattern: string): string | undefined {
  return re2Problem(pattern);
}

/** Resources grouped by kind, keyed by `namespace/name`, in key order. */
export class Index {
  readonly byKind = new Map<Kind, Map<string, Resource>>();

  constructor(resources: readonly Resource[]) {
    for (const resource of byKey([...resources])) {
      let named = this.byKind.get(resource.kind);
      if (!named) {
        named = new Map();
        this.byKind.set(resource.kind, named);
      }
      named.set(nsName(resource), resource);
    }
  }

  of<K extends Kind>(kind: K): Named<K> {
    return (this.byKind.get(kind) ?? new Map()) as Named<K>;
  }
}
