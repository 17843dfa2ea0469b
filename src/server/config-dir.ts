import { type FSWatcher, watch } from "node:fs";
import type { Logger } from "../lib/logger.js";
import { loadResources, type RejectedDocument, refKey } from "../resources/index.js";
import { keyOf, type ResourceKey, type ResourceStore } from "../store/index.js";
import { Debouncer, type Timers } from "./debounce.js";
import { resourceToDocument } from "./documents.js";

export interface ConfigDirResult {
  applied: ResourceKey[];
  deleted: ResourceKey[];
  /** Documents that failed to load; a resource that named itself keeps its last good version. */
  rejected: RejectedDocument[];
}

export interface ConfigDirOptions {
  dir: string;
  store: ResourceStore;
  logger: Logger;
  /** Told after every load, so the server can report INVALID resources. */
  onLoad?: (result: ConfigDirResult) => void;
  timers?: Timers;
}

/**
 * Keeps the store in step with a folder of YAML documents (GitOps style). On each load the valid
 * documents are applied in one batch; resources this folder defined before and no longer defines
 * are deleted; a document that fails to load is reported and, if it names a resource, that
 * resource keeps its last good version instead of disappearing. Watches the folder and reloads
 * after a quiet period, so an editor's burst of writes is one load.
 */
export class ConfigDirSource {
  readonly #options: ConfigDirOptions;
  readonly #owned = new Map<string, ResourceKey>();
  readonly #reload: Debouncer;
  #watcher: FSWatcher | undefined;

  constructor(options: ConfigDirOptions) {
    this.#options = options;
    this.#reload = new Debouncer(
      async () => {
        await this.load().catch((err: unknown) =>
          options.logger.error({ err, dir: options.dir }, "config-dir: reload failed; keeping what was loaded"),
        );
      },
      { quietMs: 100, maxDelayMs: 1_000, ...(options.timers ? { timers: options.timers } : {}) },
    );
  }

  async load(): Promise<ConfigDirResult> {
    const { dir, store, logger } = this.#options;
    const loaded = await loadResources([dir]);
    const documents = loaded.resources.map(resourceToDocument);
    const present = new Map(documents.map((d) => [refKey(keyOf(d)), keyOf(d)]));
    // A rejected document that names itself still "exists": keep its last good version.
    for (const bad of loaded.rejected) if (bad.ref) present.set(refKey(bad.ref), bad.ref);
    const gone = [...this.#owned.entries()].filter(([k]) => !present.has(k)).map(([, key]) => key);
    const applied = documents.length > 0 ? (await store.apply(documents)).changed : [];
    const deleted = gone.length > 0 ? (await store.delete(gone)).changed : [];
    this.#owned.clear();
    for (const [k, key] of present) this.#owned.set(k, key);
    for (const bad of loaded.rejected) {
      logger.warn({ file: bad.file, line: bad.line, errors: bad.errors }, "config-dir: document rejected");
    }
    if (applied.length + deleted.length > 0) {
      logger.info({ dir, applied: applied.length, deleted: deleted.length }, "config-dir: loaded");
    }
    const result = { applied, deleted, rejected: loaded.rejected };
    this.#options.onLoad?.(result);
    return result;
  }

  /** Loads now, then reloads whenever the folder changes. */
  async start(): Promise<ConfigDirResult> {
    const first = await this.load();
    this.#watcher = watch(this.#options.dir, { recursive: true }, () => this.#reload.trigger());
    this.#watcher.on("error", (err) =>
      this.#options.logger.error({ err, dir: this.#options.dir }, "config-dir: watching failed"),
    );
    return first;
  }

  /** Forces a reload now (also what a SIGHUP does) and waits for it. */
  async reload(): Promise<void> {
    this.#reload.trigger();
    await this.#reload.flush();
  }

  stop(): void {
    this.#watcher?.close();
    this.#reload.stop();
  }
}
