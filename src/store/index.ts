export { MemoryStore } from "./memory.js";
export { type Reconciled, type ReconcilerOptions, SourceReconciler, type SourceSet } from "./reconcile.js";
export { RedisStore, type RedisStoreOptions } from "./redis.js";
export {
  canonicalJson,
  keyOf,
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  type StoreChange,
  type StoredResource,
  StoreError,
  type StoreSnapshot,
  type WriteResult,
} from "./types.js";
