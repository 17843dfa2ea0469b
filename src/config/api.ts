import type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";
import { SnapshotPublisher } from "./publisher.js";

export interface ApiProviderOptions<T> {
  /** For logs. Default "api". */
  source?: string;
  /** Validates a pushed config; throwing refuses it before anything else sees it. */
  check?: (config: T) => void;
}

/**
 * A provider whose configs are pushed by a caller in the same process (`gantry up`, tests, a
 * server's `setConfigs`). Each push is a new version; the caller learns whether it was taken.
 */
export class ApiProvider<T> implements ConfigProvider<T> {
  readonly source: string;
  readonly #check: ((config: T) => void) | undefined;
  readonly #publisher = new SnapshotPublisher<T>();
  #sequence = 0;

  constructor(options: ApiProviderOptions<T> = {}) {
    this.source = options.source ?? "api";
    this.#check = options.check;
  }

  subscribe(subscriber: ConfigSubscriber<T>): () => void {
    return this.#publisher.subscribe(subscriber);
  }

  current(): ConfigSnapshot<T> | undefined {
    return this.#publisher.current();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.#publisher.settled();
  }

  /**
   * Offers `config` to the subscribers. An invalid config throws here, at once (and is reported
   * to the subscribers as a failed load); the promise says whether the subscribers took it.
   */
  push(config: T): Promise<void> {
    try {
      this.#check?.(config);
    } catch (err) {
      this.#publisher.fail(err);
      throw err;
    }
    this.#sequence += 1;
    return this.#publisher.offer({ version: `${this.source}-${this.#sequence}`, config });
  }
}
