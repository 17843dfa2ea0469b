import { type FSWatcher, watch } from "node:fs";
import { systemClock, type Timers } from "../lib/clock.js";
import { Debouncer } from "../lib/debounce.js";
import { runnableModule, type WorkerPool, type WorkerTask, WorkerTaskError } from "../lib/index.js";
import type { FileText } from "./file.js";
import { defaultFileLimits, type FileLimits } from "./limits.js";
import { type Loading, loadFiles, type PlainLoading } from "./load-files.js";
import type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";
import { SnapshotPublisher } from "./publisher.js";

/** A source on disk: where to watch, which events matter, and how to read and parse it. */
export interface WatchedSource<T> {
  /** The file or folder, for logs. */
  readonly source: string;
  /** The folder to watch. */
  readonly folder: string;
  readonly recursive: boolean;
  /** Whether a change event for this name (relative to `folder`; null when unknown) can change the config. */
  relevant(name: string | null): boolean;
  /**
   * Reads and parses the source; a reading whose version is in `known` is not parsed again. Throws
   * only when the source cannot be read (a missing file with its ENOENT code).
   */
  load(known: readonly string[]): Promise<Loading<T>>;
}

/** Parsing in a worker thread: the pool, and the FilesParser it runs (see load-files.ts). */
export interface OffThreadParsing {
  readonly pool: WorkerPool;
  /** A module exporting a FilesParser, and its name. */
  readonly parser: WorkerTask;
  /** Passed to the parser (plain data). */
  readonly options?: unknown;
  /** Builds the config from what the parser returned, on this thread (to attach what cannot cross, functions). */
  readonly revive?: (parsed: never) => unknown;
}

interface WatchSettings {
  /**
   * A first reading that does not parse, or that the subscribers refuse, is reported to them and
   * the provider starts and watches anyway, so the fixed source is taken when it changes (as
   * envoyproxy/ratelimit starts). By default such a start rejects. A source that cannot be read at
   * all still rejects.
   */
  startWithoutConfig?: boolean;
  /** Quiet time before reading after a change. Default 100 ms. */
  quietMs?: number;
  /** Longest wait after the first change of a burst. Default: none. */
  maxDelayMs?: number;
  timers?: Timers;
  /** Bounds on each file, checked before parsing. Default defaultFileLimits. */
  limits?: FileLimits;
}

/**
 * How a provider turns what it read into a validated config: `parse` on this thread (small inputs,
 * tests), or `worker`: reading, the limits and parsing all run in a worker thread, so a large or
 * hostile file never holds the event loop. Either way, errors name the file, line and field.
 */
export type WatchOptions<I, T> = WatchSettings &
  ({ parse(input: I): T | Promise<T>; worker?: never } | { worker: OffThreadParsing; parse?: never });

const filesTask: WorkerTask = { module: new URL("./load-files.js", import.meta.url), name: "loadFilesTask" };

/** Reads and parses files as `options` says: on this thread, or in a worker thread. */
export function filesLoader<I, T>(
  options: WatchOptions<I, T>,
  toInput: (files: readonly FileText[]) => I,
): (paths: readonly string[], known: readonly string[]) => Promise<Loading<T>> {
  const limits = options.limits ?? defaultFileLimits;
  const { worker, parse } = options;
  if (parse) return (paths, known) => loadFiles({ paths, limits, known }, (files) => parse(toInput(files)));
  const off = worker as OffThreadParsing;
  const parser = { module: runnableModule(off.parser.module), name: off.parser.name };
  return async (paths, known) => {
    const plain = await off.pool.run<PlainLoading<T>>(filesTask, {
      paths,
      limits,
      known,
      options: off.options,
      parser,
    });
    if ("failure" in plain) return { version: plain.version, error: new WorkerTaskError(plain.failure) };
    if (!("config" in plain) || !off.revive) return plain;
    return { version: plain.version, config: off.revive(plain.config as never) as T };
  };
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * A provider that reads a source on disk at start, then again after it changes (once things are
 * quiet). A read that finds something missing is skipped (a file being replaced by rename is
 * gone for a moment; the rename's own event follows); other failures go to the subscribers, and
 * the current snapshot stays.
 */
export class WatchedProvider<T> implements ConfigProvider<T> {
  readonly source: string;
  readonly #spec: WatchedSource<T>;
  readonly #startWithoutConfig: boolean;
  /** The version of the last reading that failed, so an unchanged bad source is not reported twice. */
  #failedVersion: string | undefined;
  readonly #publisher = new SnapshotPublisher<T>();
  readonly #quiet: Debouncer;
  #watcher: FSWatcher | undefined;
  /** Reloads run one after another. */
  #loading: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(spec: WatchedSource<T>, options: WatchSettings) {
    this.source = spec.source;
    this.#spec = spec;
    this.#startWithoutConfig = options.startWithoutConfig ?? false;
    // Reloads are chained (#reload) anyway; the debouncer also holds a change that comes during one
    // until it has ended.
    this.#quiet = new Debouncer(() => this.#reload(false).catch(() => undefined), {
      quietMs: options.quietMs ?? 100,
      maxDelayMs: options.maxDelayMs,
      timers: options.timers ?? systemClock,
    });
  }

  subscribe(subscriber: ConfigSubscriber<T>): () => void {
    return this.#publisher.subscribe(subscriber);
  }

  current(): ConfigSnapshot<T> | undefined {
    return this.#publisher.current();
  }

  async start(): Promise<void> {
    if (this.#watcher) return;
    const loading = await this.#spec.load([]);
    if ("error" in loading) {
      if (!this.#startWithoutConfig) throw loading.error;
      this.#failedVersion = loading.version;
      this.#publisher.fail(loading.error);
    } else if ("config" in loading) {
      try {
        await this.#publisher.offer({ version: loading.version, config: loading.config });
      } catch (err) {
        // The subscriber that refused has reported why.
        if (!this.#startWithoutConfig) throw err;
        this.#failedVersion = loading.version;
      }
    }
    // Not persistent: watching alone never keeps a process alive; the server's sockets do.
    this.#watcher = watch(this.#spec.folder, { persistent: false, recursive: this.#spec.recursive }, (_event, name) => {
      if (this.#spec.relevant(name)) this.#quiet.trigger();
    });
    // A watcher error (the folder removed, say) is reported, never thrown: the last config stays served.
    this.#watcher.on("error", (err) => this.#publisher.fail(err));
    // A change between the first read and the watch would otherwise wait for the next one; a
    // failure here was reported to the subscribers, and the first snapshot stands.
    await this.#reload(false).catch(() => undefined);
  }

  /**
   * Reads now even if nothing changed, and offers the result even if its version is the current
   * one (a SIGHUP, an explicit load). Failures are reported to the subscribers and reject too.
   */
  refresh(): Promise<void> {
    return this.#reload(true);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#quiet.stop();
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#loading.catch(() => undefined);
  }

  #reload(force: boolean): Promise<void> {
    const run = this.#loading.then(async () => {
      if (this.#stopped) return;
      let loading: Loading<T>;
      try {
        const known = force ? [] : [this.#publisher.current()?.version, this.#failedVersion];
        loading = await this.#spec.load(known.filter((v): v is string => v !== undefined));
      } catch (err) {
        if (!force && isMissing(err)) return;
        this.#publisher.fail(err);
        throw err;
      }
      if ("unchanged" in loading) return;
      this.#failedVersion = loading.version;
      if ("error" in loading) {
        this.#publisher.fail(loading.error);
        throw loading.error;
      }
      const snapshot: ConfigSnapshot<T> = { version: loading.version, config: loading.config };
      // A refusal was reported by the subscriber that refused.
      await this.#publisher.offer(snapshot, force);
      this.#failedVersion = undefined;
    });
    this.#loading = run.catch(() => undefined);
    return run;
  }
}
