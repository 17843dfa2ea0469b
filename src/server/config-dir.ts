import { type ConfigSnapshot, directoryProvider, type FileLimits, type WatchedProvider } from "../config/index.js";
import type { Timers } from "../lib/clock.js";
import type { WorkerPool } from "../lib/index.js";
import type { Logger } from "../lib/logger.js";
import { isResourceFile, type RejectedDocument, type Resource } from "../resources/index.js";
import {
  keyOf,
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  SourceReconciler,
} from "../store/index.js";
import type { DesiredState } from "./desired-state.js";
import type { ParsedFiles } from "./parse-tasks.js";

export interface ConfigDirResult {
  applied: ResourceKey[];
  deleted: ResourceKey[];
  /** Documents that failed to load; a resource that named itself keeps its last good version. */
  rejected: RejectedDocument[];
}

export interface ConfigDirOptions {
  dir: string;
  store: ResourceStore;
  /** The worker threads that read and parse the folder's files. */
  pool: WorkerPool;
  /** Bounds on each file. Default defaultFileLimits (8 MiB, 10,000 documents). */
  limits?: FileLimits | undefined;
  /** When given, the folder's resources are stored through it, so they are not parsed again to translate them. */
  desired?: Pick<DesiredState, "apply">;
  logger: Logger;
  /** Told after every load, so the server can report INVALID resources. */
  onLoad?: (result: ConfigDirResult) => void;
  timers?: Timers;
}

/**
 * Keeps the store in step with a folder of YAML documents (GitOps style), fed by a directory
 * provider: the folder tree is read and parsed as one snapshot, again after a quiet period once
 * it changes (so an editor's burst of writes is one load). Each snapshot is reconciled into the
 * store (`SourceReconciler`, shared with the Kubernetes source): the valid documents are applied in one batch; resources this folder defined before and no longer defines are
 * deleted; a document that fails to load is reported and, if it names a resource, that resource
 * keeps its last good version instead of disappearing.
 */
export class ConfigDirSource {
  readonly #options: ConfigDirOptions;
  /** Writes the folder's whole set on every load, so a reload re-asserts it over the API's writes. */
  readonly #reconciler: SourceReconciler<{ document: ResourceDocument; resource: Resource }>;
  readonly #provider: WatchedProvider<ParsedFiles>;
  #last: ConfigDirResult = { applied: [], deleted: [], rejected: [] };

  constructor(options: ConfigDirOptions) {
    this.#options = options;
    const { store, desired } = options;
    this.#reconciler = new SourceReconciler({
      keyOf: (entry) => keyOf(entry.document),
      write: (entries) =>
        desired
          ? desired.apply(
              entries.map((e) => e.resource),
              entries.map((e) => e.document),
            )
          : store.apply(entries.map((e) => e.document)),
      delete: (keys) => store.delete(keys),
    });
    this.#provider = directoryProvider<ParsedFiles>({
      dir: options.dir,
      recursive: true,
      accept: isResourceFile,
      worker: {
        pool: options.pool,
        parser: { module: new URL("./parse-tasks.js", import.meta.url), name: "parseConfigDirFiles" },
      },
      ...(options.limits ? { limits: options.limits } : {}),
      quietMs: 100,
      maxDelayMs: 1_000,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    const reloadFailed = (err: unknown) =>
      options.logger.error({ err, dir: options.dir }, "config-dir: reload failed; keeping what was loaded");
    this.#provider.subscribe({
      update: async (snapshot) => {
        try {
          this.#last = await this.#apply(snapshot);
        } catch (err) {
          reloadFailed(err);
          throw err;
        }
      },
      error: reloadFailed,
    });
  }

  /** Reads and applies the folder now, even if it did not change. */
  async load(): Promise<ConfigDirResult> {
    await this.#provider.refresh();
    return this.#last;
  }

  /** Loads now, then reloads whenever the folder changes. */
  async start(): Promise<ConfigDirResult> {
    await this.#provider.start();
    return this.#last;
  }

  /** Forces a reload now (also what a SIGHUP does) and waits for it; a failure is logged. */
  async reload(): Promise<void> {
    await this.#provider.refresh().catch(() => undefined);
  }

  stop(): void {
    void this.#provider.stop();
  }

  async #apply(snapshot: ConfigSnapshot<ParsedFiles>): Promise<ConfigDirResult> {
    const { dir, logger } = this.#options;
    const loaded = snapshot.config;
    const { applied, deleted } = await this.#reconciler.reconcile({
      valid: loaded.documents.map((document, i) => ({ document, resource: loaded.resources[i] as Resource })),
      // A rejected document that names itself still "exists": keep its last good version.
      refused: loaded.rejected.flatMap((bad) => (bad.ref ? [bad.ref] : [])),
    });
    for (const bad of loaded.rejected) {
      logger.warn({ file: bad.file, line: bad.line, errors: bad.errors }, "config-dir: document rejected");
    }
    if (applied.length + deleted.length > 0) {
      logger.info(
        { dir, version: snapshot.version, applied: applied.length, deleted: deleted.length },
        "config-dir: loaded",
      );
    }
    const result = { applied, deleted, rejected: loaded.rejected };
    this.#options.onLoad?.(result);
    return result;
  }
}
