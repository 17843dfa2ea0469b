// An informer over one collection: list once, then watch from the list's resourceVersion. A watch
// that ends (the server's timeout) or breaks (an API server restart) is resumed from the last version
// seen, events and bookmarks included, so nothing is listed again; only when the server answers 410
// Gone (that version was compacted away) is the collection listed again and compared with the cache.
import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { type KubeClient, KubeError, type WatchEvent } from "./client.js";
import { type KubeObject, objectKey } from "./objects.js";

/** What changed, by `namespace/name`: the object now, or undefined when it was deleted. */
export type Changes = ReadonlyMap<string, KubeObject | undefined>;

export interface InformerOptions {
  client: KubeClient;
  /** The collection, e.g. `/apis/gantry.dev/v1/routetables` or `/apis/gantry.dev/v1/namespaces/x/routetables`. */
  path: string;
  /** Told of every change, in order; a relist tells what differs from the cache in one call. */
  onChanges: (changes: Changes) => void;
  timers: Timers;
  logger: Logger;
  /** Waits before a new attempt after a failure: doubling from `minMs` to `maxMs`. Default 200 ms to 10 s. */
  backoff?: { minMs: number; maxMs: number };
}

/** How the informer got its objects so far: tests and logs tell a resume from a relist. */
export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists forced by 410 Gone. */
  gone: number;
}

export class Informer {
  readonly #options: InformerOptions;
  readonly #cache = new Map<string, KubeObject>();
  readonly #stats: InformerStats = { lists: 0, watches: 0, gone: 0 };
  #resourceVersion = "";
  #abort: AbortController | undefined;
  #retry: Timer | undefined;
  /** Ends the backoff wait early: stop() must not leave the watch loop waiting on a cancelled timer. */
  #wake: (() => void) | undefined;
  /** The watch loop, from start() until it ends. */
  #running: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;
  /** The watch was ended here because the server said 410 inside it: relist at once. */
  #endedForGone = false;

  constructor(options: InformerOptions) {
    this.#options = options;
  }

  get stats(): Readonly<InformerStats> {
    return this.#stats;
  }

  /** The objects as last seen. */
  get(key: string): KubeObject | undefined {
    return this.#cache.get(key);
  }

  /** Lists the collection (throws when that fails, so a server does not start blind), then watches. */
  async start(): Promise<void> {
    try {
      await this.#list();
    } catch (err) {
      const hint = err instanceof KubeError && err.code === 404 ? " (are the CRDs of deploy/crds installed?)" : "";
      throw new Error(`kubernetes: cannot list ${this.#options.path}: ${(err as Error).message}${hint}`);
    }
    this.#running = this.#run();
  }

  /** Ends the watch; resolves once the watch loop has ended (at once during a backoff). */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#wake?.();
    this.#abort?.abort();
    return this.#running ?? Promise.resolve();
  }

  async #list(): Promise<void> {
    const list = await this.#options.client.list(this.#options.path);
    this.#stats.lists += 1;
    const changes = new Map<string, KubeObject | undefined>();
    const seen = new Set<string>();
    for (const object of list.items) {
      const key = objectKey(object);
      seen.add(key);
      const before = this.#cache.get(key);
      if (before?.metadata?.resourceVersion !== object.metadata?.resourceVersion) changes.set(key, object);
      this.#cache.set(key, object);
    }
    for (const key of [...this.#cache.keys()]) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      changes.set(key, undefined);
    }
    this.#resourceVersion = list.resourceVersion;
    if (changes.size > 0) this.#options.onChanges(changes);
  }

  /** Watches until stopped: resumes from the last version, relists on 410, backs off on failures. */
  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (this.#resourceVersion === "") await this.#list();
        this.#abort = new AbortController();
        this.#endedForGone = false;
        this.#stats.watches += 1;
        await this.#options.client.watch(
          this.#options.path,
          this.#resourceVersion,
          (event) => this.#event(event),
          this.#abort.signal,
        );
        this.#failures = 0;
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof KubeError && err.code === 410) {
          this.#gone();
          continue;
        }
        if (this.#endedForGone) {
          this.#endedForGone = false;
          continue;
        }
        this.#failures += 1;
        const { minMs, maxMs } = this.#options.backoff ?? { minMs: 200, maxMs: 10_000 };
        const waitMs = Math.min(maxMs, minMs * 2 ** Math.min(this.#failures - 1, 16));
        this.#options.logger.warn(
          { err, path: this.#options.path, retryInMs: waitMs },
          "kubernetes: the watch failed; resuming from the last version seen",
        );
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#retry = this.#options.timers.setTimeout(resolve, waitMs);
        });
        this.#wake = undefined;
      }
    }
  }

  #gone(): void {
    this.#stats.gone += 1;
    this.#resourceVersion = "";
    this.#options.logger.info({ path: this.#options.path }, "kubernetes: resource version gone (410); listing again");
  }

  #event(event: WatchEvent): void {
    if (event.type === "ERROR") {
      // Sent inside the stream when the version asked for is too old: end this watch and relist.
      if (event.object.code === 410) {
        this.#gone();
        this.#endedForGone = true;
        this.#abort?.abort();
        return;
      }
      throw new KubeError(event.object.code ?? 0, event.object.message ?? "watch error");
    }
    const version = event.object.metadata?.resourceVersion;
    if (version) this.#resourceVersion = version;
    if (event.type === "BOOKMARK") return;
    const key = objectKey(event.object);
    if (event.type === "DELETED") this.#cache.delete(key);
    else this.#cache.set(key, event.object);
    this.#options.onChanges(new Map([[key, event.type === "DELETED" ? undefined : event.object]]));
  }
}
