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
export type { Ack, Nack, Push, Request, StreamInfo, StreamKind, XdsHooks } from "./hooks.js";
export { encodeResource, ResourceError, rawResource, resourceNameOf, versionOf, type XdsResource } from "./resource.js";
export { addXdsServices, defaultXdsPort, startXdsServer, type XdsServer, type XdsServerOptions } from "./server.js";
export { Snapshot, SnapshotError, versionOfSet } from "./snapshot.js";
export { type ProxyStatus, ProxyStatusBoard, type TypeStatus } from "./status.js";
export { inPushOrder, isFullStateType, TypeUrl, typeUrlOf } from "./type-urls.js";
export { validationProblems } from "./validate.js";
export { describeResource, envoyRegistry, ResourceValidator } from "./validation.js";
