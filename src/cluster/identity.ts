/**
 * Who a workload cluster is: its name (one rule with `metadata.clusters`, in
 * src/resources/cluster-name.ts) and the identity its certificates carry,
 * `spiffe://<trust-domain>/cluster/<name>` as a URI SAN. The trust work to come names workloads with
 * SPIFFE IDs in the same trust domain, so a cluster's identity is one already.
 */

import { isClusterName } from "../resources/index.js";

export { checkClusterName } from "../resources/index.js";

const trustDomainPattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Throws naming the flag unless `domain` is a valid SPIFFE trust domain. */
export function checkTrustDomain(domain: string, where = "--trust-domain"): string {
  if (!trustDomainPattern.test(domain)) {
    throw new Error(`${where} "${domain}": must be a DNS name in lower case (letters, digits, '-' and '.')`);
  }
  return domain;
}

export const defaultTrustDomain = "gantry.local";

export function clusterIdentity(trustDomain: string, cluster: string): string {
  return `spiffe://${trustDomain}/cluster/${cluster}`;
}

/** The cluster an identity names, if it is a cluster identity of `trustDomain`. */
export function clusterOfIdentity(trustDomain: string, identity: string): string | undefined {
  const prefix = `spiffe://${trustDomain}/cluster/`;
  if (!identity.startsWith(prefix)) return undefined;
  const name = identity.slice(prefix.length);
  return isClusterName(name) ? name : undefined;
}

/** The DNS name every relay server certificate carries and agents check (the CA is pinned, so the name is fixed). */
export const relayServerName = "gantry-relay";
