import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type ConfigProvider, type ConfigSnapshot, type ConfigSubscriber, SnapshotPublisher } from "../config/index.js";
import { XdsClient, type XdsClientOptions } from "../xds/index.js";

export interface XdsProviderOptions<S extends DescMessage, T> {
  client: XdsClientOptions;
  /** The resource type subscribed to, every resource of it (wildcard). */
  schema: S;
  /** Defaults to the `name` field. */
  nameOf?: (resource: MessageShape<S>) => string;
  /** Turns the whole set the server sent into a validated config, or throws (a NACK with the error). */
  parse(resources: ReadonlyMap<string, MessageShape<S>>): T;
}

/**
 * A provider that follows a management server over xDS (state of the world). A snapshot's
 * version is the server's; a set that fails to parse, or that a subscriber refuses, is NACKed with
 * the error and the last accepted one stays current, across reconnections too.
 */
export class XdsProvider<S extends DescMessage, T> implements ConfigProvider<T> {
  readonly source: string;
  readonly #client: XdsClient;
  readonly #publisher = new SnapshotPublisher<T>();
  #stopped = false;

  constructor(options: XdsProviderOptions<S, T>) {
    this.source = `xds ${options.client.server}`;
    this.#client = new XdsClient(options.client);
    this.#client.subscribe(options.schema, {
      ...(options.nameOf ? { nameOf: options.nameOf } : {}),
      onUpdate: async (resources, version) => {
        let config: T;
        try {
          config = options.parse(resources);
        } catch (err) {
          this.#publisher.fail(err);
          throw err;
        }
        // A reconnection re-sends the config held; the same version is taken at once (and ACKed).
        await this.#publisher.offer({ version, config });
      },
    });
  }

  subscribe(subscriber: ConfigSubscriber<T>): () => void {
    return this.#publisher.subscribe(subscriber);
  }

  current(): ConfigSnapshot<T> | undefined {
    return this.#publisher.current();
  }

  /** True while a stream is open and the server has answered on it. */
  get connected(): boolean {
    return this.#client.connected;
  }

  async start(): Promise<void> {
    this.#client.start();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#client.stop();
  }
}
