// The one rule for a workload cluster's name, wherever a name is taken: an agent's `--cluster`,
// `gantry cluster add`, bootstraps' `--cluster`, `metadata.clusters`, the `gantry.io/cluster` label and
// policies that name clusters. An agent's name goes into its SPIFFE identity, Redis fields and host
// names, so it is a DNS label; a placement spelled any other way could never match an agent.

const clusterNamePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What a cluster name is, for messages. */
export const clusterNameRule =
  "a DNS label (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)";

export function isClusterName(name: unknown): name is string {
  return typeof name === "string" && clusterNamePattern.test(name);
}

/** Throws naming `where` (a flag, a field) unless `name` is a cluster name; returns it. */
export function checkClusterName(name: string, where = "cluster name"): string {
  if (!isClusterName(name)) throw new Error(`${where} "${name}": must be ${clusterNameRule}`);
  return name;
}
