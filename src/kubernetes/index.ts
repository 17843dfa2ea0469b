/**
 * Kubernetes as a source and a coordinator: Gantry's one client of the API (over a kubeconfig or the
 * pod's own service account), reflectors that keep a watched collection up to date (the server's
 * custom resources, the agent's discovery), leader election with a Lease, and workload attestation
 * with the TokenReview API. This is the folder's only door.
 */
export {
  type KubeApi,
  KubeApiError,
  KubeClient,
  type KubeList,
  type KubeObject,
  type KubeSource,
  loadKubeConfig,
  type ObjectMeta,
  type WatchEvent,
} from "./api.js";
export { type LeaderElectionOptions, LeaderElector, microTime } from "./lease.js";
export {
  type Changes,
  objectKey,
  Reflector,
  type ReflectorOptions,
  type ReflectorStats,
} from "./reflector.js";
export {
  serviceAccountOf,
  TokenReviewAttestor,
  type TokenReviewAttestorOptions,
  tokenReviewAttestor,
} from "./token-review.js";
