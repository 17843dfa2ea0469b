/**
 * Config providers and the config-serving skeleton: how config reaches a process. A provider
 * (file, folder, xDS, API; more to come) yields validated, versioned snapshots; `LiveConfig`
 * compiles them off the request path and swaps them in whole. Knows no domain: generic in the
 * config type. This is the folder's only door.
 */
export { ApiProvider, type ApiProviderOptions } from "./api.js";
export { type DirectoryProviderOptions, directoryProvider } from "./directory.js";
export { type FileProviderOptions, type FileText, fileProvider } from "./file.js";
export { LiveConfig, type LiveConfigOptions } from "./live.js";
export type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";
export { SnapshotPublisher } from "./publisher.js";
export type { WatchedProvider, WatchOptions } from "./watched.js";
