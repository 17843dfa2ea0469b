// Keeps a local copy of one collection of Kubernetes objects: lists it once, then watches from the
// list's resourceVersion. A watch that ends or drops resumes from the last version seen (bookmarks
// included), so nothing is missed and nothing is listed again; only a 410 Gone (the version is older
// than what the apiserver keeps) relists, and the new list is compared with the copy, deletions
// included. Failures back off exponentially up to `maxBackoffMs`. The one list/watch implementation
// of Gantry: the server's custom resources (src/kube/source.ts) and the agent's discovery use it.

import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { type KubeApi, KubeApiError, type KubeObject, type WatchEvent } from "./api.js";

/** What changed, by key: the object's projection now, or undefined when it was deleted. */
export type Changes<T> = ReadonlyMap<string, T | undefined>;

export interface ReflectorOptions<T> {
  api: KubeApi;
  /** The collection's path, e.g. `/apis/discovery.k8s.io/v1/endpointslices` (or one namespace's). */
  path: string;
  /** What the objects are, for logs: "EndpointSlices". */
  what: string;
  /** The slice of an object kept (so a cluster's Pods cost only what is read of them). */
  project(object: KubeObject): T;
  /**
   * Told after the copy changed, in order: a watch event (one key), or a list (every key whose
   * version differs from the copy's, deleted keys as undefined; nothing when none differs).
   */
  onChange(changes: Changes<T>): void;
  timers: Timers;
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * When the apiserver does not serve the collection (404: a CRD not installed in this cluster),
   * the copy is empty and synced, and the list is tried again after this long. Without it, a
   * collection not served is a failure like any other (backed off, and an error from start()).
   */
  notServedRetryMs?: number;
}

/** How the copy was kept so far: tests and logs tell a resume from a relist. */
export interface ReflectorStats {
  lists: number;
  watches: number;
  /** Relists forced by 410 Gone. */
  gone: number;
}

/** The key of an object in a reflector's copy: `namespace/name` (`name` for cluster-scoped objects). */
export function objectKey(meta: { namespace?: string | undefined; name: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

/** The server's own bound is 5–10 min; a random one spreads the relists of many replicas and agents. */
function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

export class Reflector<T> {
  readonly #options: ReflectorOptions<T>;
  readonly #items = new Map<string, T>();
  /** Each object's resourceVersion: a relist reports only what differs. */
  readonly #versions = new Map<string, string>();
  readonly #stats: ReflectorStats = { lists: 0, watches: 0, gone: 0 };
  #resourceVersion = "";
  #synced = false;
  #stopped = true;
  #abort: AbortController | undefined;
  #sleep: { timer: Timer; wake: () => void } | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ReflectorOptions<T>) {
    this.#options = options;
  }

  /** The objects by key (see objectKey). */
  get items(): ReadonlyMap<string, T> {
    return this.#items;
  }

  /** True once a first list was taken (or the collection is known not to be served). */
  get synced(): boolean {
    return this.#synced;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get stats(): Readonly<ReflectorStats> {
    return this.#stats;
  }

  /**
   * Lists the collection now and throws when that fails (a server must not start blind), then
   * watches in the background. A reflector that should wait out an unreachable apiserver instead
   * uses run().
   */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    try {
      await this.#list(undefined);
    } catch (err) {
      throw new Error(`kubernetes: cannot list ${this.#options.path}: ${(err as Error).message}`, { cause: err });
    }
    this.run();
  }

  /** Lists (until it succeeds, backing off) and watches in the background. */
  run(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#running = this.#loop();
  }

  /** Ends the watch; resolves once the loop has ended (at once during a backoff). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#sleep?.wake();
    await this.#running;
  }

  async #loop(): Promise<void> {
    const { logger, what } = this.#options;
    let failures = 0;
    while (!this.#stopped) {
      this.#abort = new AbortController();
      try {
        if (!this.#resourceVersion) await this.#list(this.#abort.signal);
        this.#stats.watches += 1;
        await this.#options.api.watch<KubeObject>(
          this.#options.path,
          this.#resourceVersion,
          (event) => this.#apply(event),
          { timeoutSeconds: watchTimeoutSeconds(), signal: this.#abort.signal },
        );
        failures = 0;
      } catch (err) {
        if (this.#stopped) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.#stats.gone += 1;
          logger.info({ what }, "kubernetes: watch too far behind (410 Gone); listing again");
          this.#resourceVersion = "";
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404 && this.#options.notServedRetryMs !== undefined) {
          this.#resourceVersion = "";
          this.#notServed();
          await this.#wait(this.#options.notServedRetryMs);
          continue;
        }
        failures += 1;
        const delay = Math.min(
          (this.#options.initialBackoffMs ?? 200) * 2 ** Math.min(failures - 1, 16),
          this.#options.maxBackoffMs ?? 10_000,
        );
        logger.warn(
          { what, err: (err as Error).message, retryInMs: delay },
          "kubernetes: list/watch failed; resuming from the last version seen",
        );
        await this.#wait(delay);
      }
    }
  }

  async #list(signal: AbortSignal | undefined): Promise<void> {
    this.#stats.lists += 1;
    const list = await this.#options.api.list<KubeObject>(this.#options.path, signal ? { signal } : {});
    const changes = new Map<string, T | undefined>();
    const seen = new Set<string>();
    for (const object of list.items) {
      const key = objectKey(object.metadata);
      seen.add(key);
      const version = object.metadata.resourceVersion ?? "";
      if (this.#versions.get(key) === version && this.#items.has(key)) continue;
      const projected = this.#options.project(object);
      this.#items.set(key, projected);
      this.#versions.set(key, version);
      changes.set(key, projected);
    }
    for (const key of [...this.#items.keys()]) {
      if (seen.has(key)) continue;
      this.#items.delete(key);
      this.#versions.delete(key);
      changes.set(key, undefined);
    }
    this.#resourceVersion = list.metadata.resourceVersion ?? "";
    const first = !this.#synced;
    this.#synced = true;
    if (changes.size > 0 || first) this.#options.onChange(changes);
  }

  #notServed(): void {
    const changes = new Map<string, T | undefined>([...this.#items.keys()].map((key) => [key, undefined]));
    this.#items.clear();
    this.#versions.clear();
    if (!this.#synced) {
      this.#options.logger.info({ what: this.#options.what }, "kubernetes: not served by this cluster; none");
    }
    const first = !this.#synced;
    this.#synced = true;
    if (changes.size > 0 || first) this.#options.onChange(changes);
  }

  #apply(event: WatchEvent<KubeObject>): void {
    const { object } = event;
    if (object.metadata?.resourceVersion) this.#resourceVersion = object.metadata.resourceVersion;
    if (event.type === "BOOKMARK") return;
    const key = objectKey(object.metadata);
    if (event.type === "DELETED") {
      this.#items.delete(key);
      this.#versions.delete(key);
      this.#options.onChange(new Map([[key, undefined]]));
      return;
    }
    const projected = this.#options.project(object);
    this.#items.set(key, projected);
    this.#versions.set(key, object.metadata.resourceVersion ?? "");
    this.#options.onChange(new Map([[key, projected]]));
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#sleep?.timer.cancel();
        this.#sleep = undefined;
        resolve();
      };
      this.#sleep = { timer: this.#options.timers.setTimeout(wake, ms), wake };
    });
  }
}
