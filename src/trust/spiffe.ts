/*
 * Workload identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>` (the lead's
 * shared convention, the shape Istio uses). Namespaces are DNS labels and service accounts DNS
 * subdomains, as in Kubernetes, so every identity is a valid URI SAN.
 */

const namespacePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const serviceAccountPattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function checkNamespace(namespace: string, where = "namespace"): string {
  if (!namespacePattern.test(namespace)) {
    throw new Error(`${where} "${namespace}": must be a DNS label (lower-case letters, digits and '-', at most 63)`);
  }
  return namespace;
}

export function checkServiceAccount(serviceAccount: string, where = "service account"): string {
  if (!serviceAccountPattern.test(serviceAccount)) {
    throw new Error(
      `${where} "${serviceAccount}": must be a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253)`,
    );
  }
  return serviceAccount;
}

export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The parts of a workload SPIFFE ID, or undefined if `uri` is not one. */
export function parseWorkloadSpiffeId(
  uri: string,
): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const match = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!match) return undefined;
  const [, trustDomain, namespace, serviceAccount] = match as unknown as [string, string, string, string];
  if (!namespacePattern.test(namespace) || !serviceAccountPattern.test(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}
