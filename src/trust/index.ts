// Workload trust (docs/security.md): the root CA in the management server, the clusters'
// intermediate CAs in the agents, workload identities proven by attestors, certificates delivered by
// SDS and as files, and their rotation.
export { AttestationError, type WorkloadAttestor, type WorkloadIdentity } from "./attestor.js";
export { AttestorChain } from "./attestors.js";
export {
  defaultIntermediateTtlMs,
  defaultRootTransitionMs,
  type RootView,
  TrustAuthority,
  type TrustAuthorityOptions,
  type TrustBundleView,
  TrustError,
} from "./authority.js";
export { generateRoot, loadSigningCa, pemBlocks } from "./ca.js";
export { certFileNames, WorkloadCertFiles, writeCertFiles } from "./cert-files.js";
export { ClusterCa, type ClusterCaOptions, type ClusterCaState, workloadCaFile } from "./cluster-ca.js";
export {
  defaultWorkloadCertTtlMs,
  type IssuingCa,
  rotationDueMs,
  type WorkloadCertificate,
  WorkloadIssuer,
  type WorkloadIssuerOptions,
} from "./issuer.js";
export { trustService } from "./relay-service.js";
export { trustBundleSecretName, workloadSecretName, workloadSecrets } from "./sds.js";
export { type KeyEncryptionKey, parseKeyEncryptionKey, readKeyEncryptionKey } from "./sealed.js";
export { parseWorkloadSpiffeId, workloadSpiffeId } from "./spiffe.js";
export { UnservedWorkloadSecrets } from "./unserved-secrets.js";
export { WorkloadSds } from "./workload-sds.js";
export {
  defaultWorkloadTokenTtlMs,
  GantryTokenAttestor,
  loadTokenKey,
  mintWorkloadToken,
  tokenKeyFile,
} from "./workload-token.js";
