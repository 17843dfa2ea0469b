import type { Kind } from "../resources/index.js";

/** The API group of Gantry's custom resources: a domain the project names itself by, as groups must be. */
export const group = "gantry.dev";
export const version = "v1";
export const kubeApiVersion = `${group}/${version}`;

/**
 * `metadata.clusters` of a gantry/v1 file, on a custom resource: Kubernetes' metadata has no such
 * field, so it is this annotation, the cluster names separated by commas.
 */
export const clustersAnnotation = `${group}/clusters`;

/** The resource name of a kind, as Kubernetes' own plurals are made: `RetryTimeoutPolicy` → `retrytimeoutpolicies`. */
export function pluralOf(kind: Kind | string): string {
  const lower = kind.toLowerCase();
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  return `${lower}s`;
}
