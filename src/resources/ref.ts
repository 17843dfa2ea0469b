// One spelling of a resource's identity: every `Kind/namespace/name` in Gantry is made and read here.

/**
 * A reference to one resource: unique across a store. `kind` is a string, not a `Kind`, because
 * references also come from outside (the API, the store) before anyone has checked them.
 */
export interface ResourceRef<K extends string = string> {
  readonly kind: K;
  readonly namespace: string;
  readonly name: string;
}

/** `namespace/name`: unique within a kind (how routes name gateways, route tables and policies). */
export function namespacedName(ref: { readonly namespace: string; readonly name: string }): string {
  return `${ref.namespace}/${ref.name}`;
}

/** `Kind/namespace/name`: the key of a resource in the store, in statuses and in the model's origins. */
export function refKey(ref: ResourceRef): string {
  return `${ref.kind}/${namespacedName(ref)}`;
}

/** The key of the resource of `kind` known by its `namespace/name` (as the translation model names things). */
export function kindKey(kind: string, namespacedName: string): string {
  return `${kind}/${namespacedName}`;
}

/**
 * The inverse of `refKey`. Kinds and namespaces never hold a `/`, so the first two split the key;
 * the name is the rest (names from the API are not checked for `/` before a lookup). Throws on a
 * key that is not `Kind/namespace/name` with three non-empty parts.
 */
export function parseRefKey(key: string): ResourceRef {
  const first = key.indexOf("/");
  const second = first < 0 ? -1 : key.indexOf("/", first + 1);
  const ref = { kind: key.slice(0, first), namespace: key.slice(first + 1, second), name: key.slice(second + 1) };
  if (second < 0 || ref.kind === "" || ref.namespace === "" || ref.name === "") {
    throw new Error(`malformed resource key ${JSON.stringify(key)}: expected Kind/namespace/name`);
  }
  return ref;
}

/** The reference of a loaded resource. */
export function refOf<K extends string>(resource: {
  readonly kind: K;
  readonly metadata: { readonly namespace: string; readonly name: string };
}): ResourceRef<K> {
  return { kind: resource.kind, namespace: resource.metadata.namespace, name: resource.metadata.name };
}

/** `Kind/namespace/name` of a loaded resource (without making its ref: normalize calls this in sorts). */
export function resourceKey(resource: {
  readonly kind: string;
  readonly metadata: { readonly namespace: string; readonly name: string };
}): string {
  return kindKey(resource.kind, namespacedName(resource.metadata));
}
