export { MemoryStore } from "./memory.js";
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
