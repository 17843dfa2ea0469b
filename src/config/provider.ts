/**
 * One way for config to reach a process: a provider reads a source (a file, a folder, an xDS
 * server, an API call), turns what it read into a validated value of type T, and offers it to its
 * subscribers as a snapshot with a version. New sources (an agent relay, Kubernetes) are new
 * providers; what consumes snapshots does not change.
 */

/** A validated config and its version. Equal versions mean equal configs. */
export interface ConfigSnapshot<T> {
  /** A content hash for files and folders, the server's version for xDS, a sequence for API pushes. */
  readonly version: string;
  readonly config: T;
}

/** What a provider tells the one who subscribed. */
export interface ConfigSubscriber<T> {
  /**
   * A new snapshot. Resolving takes it; rejecting refuses it: the provider keeps its current
   * snapshot and tells its source where it can (an xDS NACK, the API caller's error). A subscriber
   * that refuses reports why itself.
   */
  update(snapshot: ConfigSnapshot<T>): Promise<void>;
  /**
   * Optional two-phase take, for a provider that must install a snapshot at the same time as other
   * processes do (a worker of `--workers`): compile now, install on `commit()`, or release on `abort()`.
   */
  stage?(snapshot: ConfigSnapshot<T>): Promise<{ commit(): void; abort(): Promise<void> }>;
  /** The source could not give a snapshot (unreadable, or invalid); the current one stays. */
  error(error: Error): void;
}

export interface ConfigProvider<T> {
  /** Where the snapshots come from, for logs: a path, an xDS server address, "api". */
  readonly source: string;
  /**
   * Starts reading the source. A source that has a config at once (a file, a folder) has it taken
   * before this resolves, and a failure to read, validate or take it rejects; an xDS provider
   * resolves at once and offers its first snapshot when the server answers.
   */
  start(): Promise<void>;
  /** Stops reading; nothing is offered after this resolves. Calling it again does nothing. */
  stop(): Promise<void>;
  /** Adds a subscriber (before `start`, so it misses nothing); returns how to remove it. */
  subscribe(subscriber: ConfigSubscriber<T>): () => void;
  /** The last snapshot every subscriber took, if any. */
  current(): ConfigSnapshot<T> | undefined;
}
