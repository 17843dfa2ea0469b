import type { ConfigProvider, ConfigSnapshot } from "./provider.js";
import { asError } from "./publisher.js";

export interface LiveConfigOptions<T, C> {
  /**
   * Builds what calls will use from a validated config, while the config being served keeps
   * answering calls. Gets the compiled config being served, to keep its unchanged parts. Throwing
   * refuses the snapshot: nothing of it is installed.
   */
  compile(config: T, serving: C | undefined, version: string): C | Promise<C>;
  /**
   * Makes `next` the config calls see. It must be one synchronous step (an assignment), so a call
   * sees the old config or the new one, never a mix; `previous` is released here (once its calls end).
   */
  install(next: C, previous: C | undefined): void;
  /** A compiled config that is not installed after all (`stage`, then `abort`): release what it holds that `serving` does not. */
  discard?(compiled: C, serving: C | undefined): void | Promise<void>;
  /** A snapshot from `source` is being served. */
  onLoaded?(snapshot: ConfigSnapshot<T>, compiled: C, source: string): void;
  /** A snapshot from `source` could not be read, validated or compiled; the last good config keeps serving. */
  onFailed?(error: Error, source: string): void;
}

/** A compiled config waiting for the second phase of a reload (`LiveConfig.stage`). */
export interface StagedConfig {
  /** Installs it in one synchronous step and reports the load. Once; later calls do nothing. */
  commit(): void;
  /** Lets it go (its resources released); the config being served stays. */
  abort(): Promise<void>;
}

/**
 * The config-serving skeleton of a data-plane service: snapshots from the providers it follows
 * are compiled one at a time, in order, off the request path; a compiled config is installed in
 * one step; every load and every failure (the provider's or the compiler's) is reported exactly
 * once. Parsing and validation happen in the providers, so moving them to a worker thread changes
 * a provider's `parse`, not this.
 */
export class LiveConfig<T, C> {
  readonly #options: LiveConfigOptions<T, C>;
  readonly #followed: Array<{ provider: ConfigProvider<T>; unsubscribe: () => void }> = [];
  #serving: { snapshot: ConfigSnapshot<T>; compiled: C } | undefined;
  #compiling: Promise<unknown> = Promise.resolve();

  constructor(options: LiveConfigOptions<T, C>) {
    this.#options = options;
  }

  /** The compiled config being served, if any. */
  get serving(): C | undefined {
    return this.#serving?.compiled;
  }

  /** The version of the snapshot being served, if any. */
  get version(): string | undefined {
    return this.#serving?.snapshot.version;
  }

  /**
   * Takes snapshots from `provider` from now on and starts it. Rejects (and lets go of the
   * provider) when its first snapshot cannot be read, validated or compiled.
   */
  async follow(provider: ConfigProvider<T>): Promise<void> {
    const unsubscribe = provider.subscribe({
      update: (snapshot) => this.#take(snapshot, provider.source),
      stage: (snapshot) => this.stage(snapshot, provider.source),
      error: (error) => this.#options.onFailed?.(error, provider.source),
    });
    const followed = { provider, unsubscribe };
    this.#followed.push(followed);
    try {
      await provider.start();
    } catch (err) {
      unsubscribe();
      this.#followed.splice(this.#followed.indexOf(followed), 1);
      await provider.stop();
      throw err;
    }
  }

  /** Stops every provider followed and waits for a compile in progress to be installed. */
  async stop(): Promise<void> {
    const followed = this.#followed.splice(0);
    for (const { unsubscribe } of followed) unsubscribe();
    await Promise.all(followed.map(({ provider }) => provider.stop()));
    await this.#compiling;
  }

  /**
   * The first phase of a reload across processes: compiles `snapshot` as a load would, but installs
   * it only on `commit()` (one synchronous step), or releases it on `abort()`. Until one of them,
   * nothing else is compiled or installed, so the config it was compiled against stays the one served.
   * Rejects (nothing staged, the failure reported) when the compiler refuses the snapshot.
   */
  stage(snapshot: ConfigSnapshot<T>, source: string): Promise<StagedConfig> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const staged = this.#compiling.then(async (): Promise<StagedConfig> => {
      let compiled: C;
      try {
        compiled = await this.#options.compile(snapshot.config, this.#serving?.compiled, snapshot.version);
      } catch (err) {
        this.#options.onFailed?.(asError(err), source);
        release();
        throw err;
      }
      let done = false;
      return {
        commit: () => {
          if (done) return;
          done = true;
          const previous = this.#serving?.compiled;
          this.#serving = { snapshot, compiled };
          this.#options.install(compiled, previous);
          this.#options.onLoaded?.(snapshot, compiled, source);
          release();
        },
        abort: async () => {
          if (done) return;
          done = true;
          try {
            await this.#options.discard?.(compiled, this.#serving?.compiled);
          } finally {
            release();
          }
        },
      };
    });
    this.#compiling = staged.then(
      () => held,
      () => undefined,
    );
    return staged;
  }

  #take(snapshot: ConfigSnapshot<T>, source: string): Promise<void> {
    const run = this.#compiling.then(async () => {
      let compiled: C;
      try {
        compiled = await this.#options.compile(snapshot.config, this.#serving?.compiled, snapshot.version);
      } catch (err) {
        this.#options.onFailed?.(asError(err), source);
        throw err;
      }
      const previous = this.#serving?.compiled;
      this.#serving = { snapshot, compiled };
      this.#options.install(compiled, previous);
      this.#options.onLoaded?.(snapshot, compiled, source);
    });
    this.#compiling = run.catch(() => undefined);
    return run;
  }
}
