export {
  AgentCredentials,
  checkGrant,
  checkRelayIdentity,
  loadAgentCredentials,
  newCertificateRequest,
  type RotationOptions,
  relayChannelOptions,
  saveIdentity,
} from "./agent-credentials.js";
export {
  checkClusterName,
  checkTrustDomain,
  clusterIdentity,
  defaultTrustDomain,
  relayServerName,
} from "./identity.js";
export {
  generateRelayCa,
  issueServingCertificate,
  loadRelayCa,
  normalizeSerial,
  type RelayCa,
} from "./pki.js";
export {
  type AgentReport,
  ClusterExists,
  type ClusterState,
  type IssuedCertificate,
  type RefusalReason,
  RegistrationRefused,
  refusalReasons,
} from "./records.js";
export {
  type CertificateGrant,
  ClusterRegistry,
  type ClusterRegistryOptions,
  type ClusterView,
  defaultCertificateTtlMs,
  defaultTokenTtlMs,
  maxTokenTtlMs,
} from "./registry.js";
export { type AuthenticatedCall, type PeerCluster, RelayAuth, type RelayAuthOptions } from "./relay-auth.js";
export {
  type ClusterStore,
  ClusterStoreError,
  MemoryClusterStore,
  RedisClusterStore,
  type RedisClusterStoreOptions,
  type StoredCa,
} from "./store.js";
export { caPinOf, parseToken, type RegistrationToken } from "./token.js";
