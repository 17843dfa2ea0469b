/**
 * Config providers and the config-serving skeleton: how config reaches a process. A provider
 * (file, folder, xDS, API; more to come) yields validated, versioned snapshots; `LiveConfig`
 * compiles them off the request path and swaps them in whole. Reading and parsing files may run in
 * a worker thread (`worker` option), within per-file limits. Knows no domain: generic in the
 * config type. This is the folder's only door.
 */
export { ApiProvider, type ApiProviderOptions } from "./api.js";
export { type DirectoryProviderOptions, directoryProvider } from "./directory.js";
export { type FileProviderOptions, type FileText, fileProvider } from "./file.js";
export { countDocuments, defaultFileLimits, FileLimitError, type FileLimits } from "./limits.js";
export { LiveConfig, type LiveConfigOptions, type StagedConfig } from "./live.js";
export type { FilesParser, Loading } from "./load-files.js";
export type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";
export { SnapshotPublisher } from "./publisher.js";
export { contentVersion } from "./version.js";
export type { OffThreadParsing, WatchedProvider, WatchOptions } from "./watched.js";
export { PrimaryConfigProvider, WorkerConfigBroadcast } from "./workers.js";
