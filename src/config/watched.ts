import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { systemClock, type Timers } from "../lib/clock.js";
import type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";
import { SnapshotPublisher } from "./publisher.js";
import { QuietPeriod } from "./quiet.js";

/** What was read from the source, and a hash of it that is the snapshot's version. */
export interface Reading<I> {
  readonly version: string;
  readonly input: I;
}

/** A source on disk: where to watch, which events matter, and how to read it. */
export interface WatchedSource<I> {
  /** The file or folder, for logs. */
  readonly source: string;
  /** The folder to watch. */
  readonly folder: string;
  readonly recursive: boolean;
  /** Whether a change event for this name (relative to `folder`; null when unknown) can change the config. */
  relevant(name: string | null): boolean;
  read(): Promise<Reading<I>>;
}

export interface WatchOptions<I, T> {
  /**
   * Turns what was read into a validated config, or throws an error that names the file, line
   * and field. Pure and given only what was read, so it can move to a worker thread by passing a
   * function that posts `input` to one.
   */
  parse(input: I): T | Promise<T>;
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
}

/** A hash of the parts read, in order: the version of a file or folder snapshot. */
export function contentVersion(parts: readonly string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
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
export class WatchedProvider<I, T> implements ConfigProvider<T> {
  readonly source: string;
  readonly #spec: WatchedSource<I>;
  readonly #parse: (input: I) => T | Promise<T>;
  readonly #startWithoutConfig: boolean;
  /** The version of the last reading that failed, so an unchanged bad source is not reported twice. */
  #failedVersion: string | undefined;
  readonly #publisher = new SnapshotPublisher<T>();
  readonly #quiet: QuietPeriod;
  #watcher: FSWatcher | undefined;
  /** Reloads run one after another. */
  #loading: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(spec: WatchedSource<I>, options: WatchOptions<I, T>) {
    this.source = spec.source;
    this.#spec = spec;
    this.#parse = options.parse;
    this.#startWithoutConfig = options.startWithoutConfig ?? false;
    this.#quiet = new QuietPeriod(() => void this.#reload(false).catch(() => undefined), {
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
    const { input, version } = await this.#spec.read();
    let parsed: { config: T } | undefined;
    try {
      parsed = { config: await this.#parse(input) };
    } catch (err) {
      if (!this.#startWithoutConfig) throw err;
      this.#failedVersion = version;
      this.#publisher.fail(err);
    }
    if (parsed) {
      try {
        await this.#publisher.offer({ version, config: parsed.config });
      } catch (err) {
        // The subscriber that refused has reported why.
        if (!this.#startWithoutConfig) throw err;
        this.#failedVersion = version;
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
    this.#quiet.cancel();
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#loading.catch(() => undefined);
  }

  #reload(force: boolean): Promise<void> {
    const run = this.#loading.then(async () => {
      if (this.#stopped) return;
      let snapshot: ConfigSnapshot<T>;
      try {
        const { input, version } = await this.#spec.read();
        if (!force && (version === this.#publisher.current()?.version || version === this.#failedVersion)) return;
        this.#failedVersion = version;
        snapshot = { version, config: await this.#parse(input) };
      } catch (err) {
        if (!force && isMissing(err)) return;
        this.#publisher.fail(err);
        throw err;
      }
      // A refusal was reported by the subscriber that refused.
      await this.#publisher.offer(snapshot, force);
      this.#failedVersion = undefined;
    });
    this.#loading = run.catch(() => undefined);
    return run;
  }
}
