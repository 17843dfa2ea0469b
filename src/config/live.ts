import type { ConfigProvider, ConfigSnapshot } from "./provider.js";
import { asError } from "./publisher.js";

export interface LiveConfigOptions<T, C> {
  /**
   * Builds what calls will use from a validated config, while the config being served keeps
   * answering calls. Gets the compiled config being served, to keep its unchanged parts. Throwing
   * refuses the snapshot: nothing of it is installed.
   */
  compile(config: T, serving: C | undefined): C | Promise<C>;
  /**
   * Makes `next` the config calls see. It must be one synchronous step (an assignment), so a call
   * sees the old config or the new one, never a mix; `previous` is released here (once its calls end).
   */
  install(next: C, previous: C | undefined): void;
  /** A snapshot from `source` is being served. */
  onLoaded?(snapshot: ConfigSnapshot<T>, compiled: C, source: string): void;
  /** A snapshot from `source` could not be read, validated or compiled; the last good config keeps serving. */
  onFailed?(error: Error, source: string): void;
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

  #take(snapshot: ConfigSnapshot<T>, source: string): Promise<void> {
    const run = this.#compiling.then(async () => {
      let compiled: C;
      try {
        compiled = await this.#options.compile(snapshot.config, this.#serving?.compiled);
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
