export {
  AckLedger,
  type AckTable,
  type ClientResourceState,
  type ClientResourceStatus,
  type ClientSummary,
  type CurrentResources,
  type LastNack,
  refusedBy,
} from "./ack-ledger.js";
export { type Backoff, defaultBackoff, retryDelay } from "./backoff.js";
export {
  groupByNodeId,
  type NodeGroupOf,
  type PublishedSnapshot,
  SnapshotCache,
  type SnapshotCacheOptions,
  type SnapshotListener,
} from "./cache.js";
export { type AcceptedConfig, type SubscribeOptions, XdsClient, type XdsClientOptions } from "./client.js";
export { consistencyProblems } from "./consistency.js";
export {
  type Ack,
  combineHooks,
  type Held,
  type Nack,
  type Push,
  type Request,
  type StreamInfo,
  type StreamKind,
  type Subscription,
  type XdsHooks,
} from "./hooks.js";
export {
  addXdsServices,
  defaultXdsPort,
  defaultXdsRequestLimits,
  startXdsServer,
  type XdsLimits,
  type XdsServer,
  type XdsServerOptions,
  type XdsStatus,
} from "./server.js";
export { changesBetween, Snapshot, type SnapshotChanges, SnapshotError, versionOfSet } from "./snapshot.js";
export { type ProxyStatus, ProxyStatusBoard, type TypeStatus } from "./status.js";
