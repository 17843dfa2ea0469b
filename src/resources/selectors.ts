import type { Metadata } from "./kinds.js";
import { namespacedName } from "./ref.js";

/** True when every label in `selector` is present in `labels` with the same value. Empty selects all. */
export function matchesLabels(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [key, value] of Object.entries(selector)) {
    if (labels[key] !== value) return false;
  }
  return true;
}

/** A label selector limited to a namespace when one is given. */
export function matchesSelector(
  selector: { labels: Readonly<Record<string, string>>; namespace: string },
  metadata: Metadata,
): boolean {
  if (selector.namespace !== "" && selector.namespace !== metadata.namespace) return false;
  return matchesLabels(selector.labels, metadata.labels);
}

/** `namespace/name` of a reference; an empty namespace means the referrer's. */
export function refName(ref: { name: string; namespace: string }, referrerNamespace: string): string {
  return namespacedName({ namespace: ref.namespace === "" ? referrerNamespace : ref.namespace, name: ref.name });
}
