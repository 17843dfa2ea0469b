// Keeps a local copy of one collection of Kubernetes objects: lists it once, then watches from the
// list's resourceVersion. A watch that ends or drops resumes from the last version seen (bookmarks
// included), so nothing is missed and nothing is listed again; only a 410 Gone (the version is older
// than what the apiserver keeps) relists. Failures back off exponentially up to `maxBackoffMs`.

import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { type KubeApi, KubeApiError, type KubeObject, type WatchEvent } from "./api.js";

export interface ReflectorOptions<T> {
  api: KubeApi;
  /** The collection's path across namespaces, e.g. `/apis/discovery.k8s.io/v1/endpointslices`. */
  path: string;
  /** What the objects are, for logs: "EndpointSlices". */
  what: string;
  /** The slice of an object kept (so a cluster's Pods cost only what is read of them). */
  project(object: KubeObject): T;
  /** Called after the copy changed: a list taken, or a watch event applied. */
  onChange(): void;
  timers: Timers;
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * When the apiserver does not serve the collection (404: a CRD not installed in this cluster),
   * the copy is empty and synced, and the list is tried again after this long.
   */
  notServedRetryMs?: number;
}

/** The key of an object in a reflector's copy: `namespace/name` (`name` for cluster-scoped objects). */
export function objectKey(meta: { namespace?: string | undefined; name: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

/** The server's own bound is 5–10 min; a random one spreads the relists of many agents. */
function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

export class Reflector<T> {
  readonly #options: ReflectorOptions<T>;
  readonly #items = new Map<string, T>();
  #resourceVersion = "";
  #synced = false;
  #stopped = true;
  #abort: AbortController | undefined;
  #sleep: { timer: Timer; wake: () => void } | undefined;
  #running: Promise<void> | undefined;
  /** How many lists and watches were started: tests check that a dropped watch resumes without a list. */
  readonly counts = { lists: 0, watches: 0 };

  constructor(options: ReflectorOptions<T>) {
    this.#options = options;
  }

  /** The objects by `namespace/name`. */
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

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#sleep?.wake();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { logger, what } = this.#options;
    let failures = 0;
    while (!this.#stopped) {
      this.#abort = new AbortController();
      try {
        if (!this.#resourceVersion) await this.#list(this.#abort.signal);
        this.counts.watches += 1;
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
          logger.info({ what }, "kubernetes: watch too far behind (410 Gone); listing again");
          this.#resourceVersion = "";
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404) {
          this.#resourceVersion = "";
          this.#notServed();
          await this.#wait(this.#options.notServedRetryMs ?? 30_000);
          continue;
        }
        failures += 1;
        const delay = Math.min(
          (this.#options.initialBackoffMs ?? 200) * 2 ** (failures - 1),
          this.#options.maxBackoffMs ?? 10_000,
        );
        logger.warn({ what, err: (err as Error).message, retryInMs: delay }, "kubernetes: list/watch failed");
        await this.#wait(delay);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    this.counts.lists += 1;
    const list = await this.#options.api.list<KubeObject>(this.#options.path, { signal });
    this.#items.clear();
    for (const object of list.items) this.#items.set(objectKey(object.metadata), this.#options.project(object));
    this.#resourceVersion = list.metadata.resourceVersion ?? "";
    this.#synced = true;
    this.#options.onChange();
  }

  #notServed(): void {
    const hadItems = this.#items.size > 0;
    this.#items.clear();
    if (!this.#synced)
      this.#options.logger.info({ what: this.#options.what }, "kubernetes: not served by this cluster; none");
    const changed = hadItems || !this.#synced;
    this.#synced = true;
    if (changed) this.#options.onChange();
  }

  #apply(event: WatchEvent<KubeObject>): void {
    const { object } = event;
    if (object.metadata?.resourceVersion) this.#resourceVersion = object.metadata.resourceVersion;
    if (event.type === "BOOKMARK") return;
    const key = objectKey(object.metadata);
    if (event.type === "DELETED") this.#items.delete(key);
    else this.#items.set(key, this.#options.project(object));
    this.#options.onChange();
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
