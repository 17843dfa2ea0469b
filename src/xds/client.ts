import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { resourceNameOf, typeUrlOf } from "../envoy/index.js";
import type { NodeSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { AggregatedDiscoveryService } from "../gen/envoy/service/discovery/v3/ads_pb.js";
import {
  type DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryRequestSchema as RequestSchema,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import { createClient, GrpcStatus, type ServiceClient } from "../lib/grpc.js";
import { type ClientTlsFiles, channelCredentials, type WatchedChannelCredentials } from "../lib/grpc-tls.js";
import type { Logger } from "../lib/logger.js";
import { type Backoff, defaultBackoff, retryDelay } from "./backoff.js";

/** The last configuration of one type that its handler accepted. */
export interface AcceptedConfig<T> {
  readonly version: string;
  readonly resources: ReadonlyMap<string, T>;
}

export interface SubscribeOptions<S extends DescMessage> {
  /** Resource names; none means every resource of the type (wildcard). */
  names?: string[];
  /** Defaults to the schema's type URL. */
  typeUrl?: string;
  /** Defaults to the `name` (or `cluster_name`) field. */
  nameOf?: (resource: MessageShape<S>) => string;
  /**
   * Takes the complete set of resources of the type, as the server sent it. Throwing (or
   * rejecting) NACKs the response with the error's message; the last accepted set stays current.
   */
  onUpdate: (resources: ReadonlyMap<string, MessageShape<S>>, version: string) => void | Promise<void>;
}

export interface XdsClientOptions {
  /** The xDS server, host:port. */
  server: string;
  node: MessageInitShape<typeof NodeSchema>;
  logger?: Logger;
  backoff?: Backoff;
  /** The jitter source, [0, 1); tests pass their own. */
  random?: () => number;
  /** Runs the retry backoff and the TLS files' reload interval. Default the system clock. */
  clock?: Timers;
  /**
   * Connect with TLS: the CA that signed the server's certificate, and this client's own for mTLS.
   * The files are read again every `reloadIntervalMs` (10 s); a reconnect uses what they hold then.
   */
  tls?: ClientTlsFiles;
}

interface Subscription {
  readonly typeUrl: string;
  readonly names: string[];
  readonly decode: (bytes: Uint8Array) => { name: string; message: unknown };
  readonly onUpdate: (resources: ReadonlyMap<string, unknown>, version: string) => void | Promise<void>;
  accepted: AcceptedConfig<unknown> | undefined;
}

type Stream = ClientDuplexStream<MessageInitShape<typeof DiscoveryRequestSchema>, DiscoveryResponse>;

interface Request {
  typeUrl: string;
  resourceNames: string[];
  versionInfo: string;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A state-of-the-world ADS client for Gantry's own services (ext-auth, rate limit): subscribes by
 * type URL, hands each response to a handler, ACKs what the handler takes and NACKs what it
 * throws on, reconnects with backoff and jitter, and keeps the last accepted config meanwhile.
 */
export class XdsClient {
  readonly #options: XdsClientOptions;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #clock: Timers;
  readonly #tls: WatchedChannelCredentials | undefined;
  readonly #subscriptions = new Map<string, Subscription>();
  #client: ServiceClient<(typeof AggregatedDiscoveryService)["method"]> | undefined;
  #stream: Stream | undefined;
  #attempt = 0;
  #retryTimer: Timer | undefined;
  #connected = false;
  #stopped = false;
  /** Only the first request of a stream needs the node. */
  #nodeSent = false;
  /** Responses are handled one at a time, in order, even when handlers are async. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: XdsClientOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? systemClock;
    // Read now, so that a missing file is an error of the constructor, not of a later reconnect.
    this.#tls =
      options.tls &&
      channelCredentials(options.tls, undefined, {
        timers: this.#clock,
        ...(options.logger ? { logger: options.logger } : {}),
      });
  }

  /** Adds a subscription; call before `start()` or at any time after. */
  subscribe<S extends DescMessage>(schema: S, options: SubscribeOptions<S>): void {
    const typeUrl = options.typeUrl ?? typeUrlOf(schema.typeName);
    if (this.#subscriptions.has(typeUrl)) throw new Error(`already subscribed to ${typeUrl}`);
    const nameOf = options.nameOf ?? ((message: MessageShape<S>) => resourceNameOf(schema, message));
    const subscription: Subscription = {
      typeUrl,
      names: options.names ?? [],
      decode: (bytes) => {
        const message = fromBinary(schema, bytes);
        return { name: nameOf(message), message };
      },
      onUpdate: options.onUpdate as Subscription["onUpdate"],
      accepted: undefined,
    };
    this.#subscriptions.set(typeUrl, subscription);
    if (this.#stream) this.#request(subscription);
  }

  /** The last accepted config of a type, kept across disconnections. */
  accepted(typeUrl: string): AcceptedConfig<unknown> | undefined {
    return this.#subscriptions.get(typeUrl)?.accepted;
  }

  /** True while a stream is open and the server has answered on it. */
  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    if (this.#client) return;
    // The channel's own reconnection follows the same backoff, so a restarted server is found as soon as ours says.
    this.#client = createClient(AggregatedDiscoveryService, this.#options.server, {
      ...(this.#tls ? { credentials: this.#tls.credentials } : {}),
      channelOptions: {
        "grpc.initial_reconnect_backoff_ms": this.#backoff.initialMs,
        "grpc.max_reconnect_backoff_ms": this.#backoff.maxMs,
      },
    });
    this.#open();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#retryTimer?.cancel();
    this.#tls?.stop();
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#connected = false;
    await this.#queue;
    this.#client?.close();
  }

  #open(): void {
    if (this.#stopped || !this.#client) return;
    const stream = this.#client.streamAggregatedResources() as Stream;
    this.#stream = stream;
    this.#nodeSent = false;
    stream.on("data", (response: DiscoveryResponse) => {
      this.#connected = true;
      this.#attempt = 0;
      this.#queue = this.#queue
        .then(() => this.#handle(response, stream))
        .catch((err: unknown) => this.#options.logger?.error({ err }, "xDS response handling failed"));
    });
    stream.on("error", (err: Error) => this.#lost(stream, err.message));
    stream.on("end", () => this.#lost(stream, "the server ended the stream"));
    for (const subscription of this.#subscriptions.values()) this.#request(subscription);
  }

  #send(request: Request): void {
    if (!this.#stream) return;
    this.#stream.write(this.#nodeSent ? request : create(RequestSchema, { ...request, node: this.#options.node }));
    this.#nodeSent = true;
  }

  /**
   * The initial request of a type on a stream. It carries no version, so the server answers with
   * the current config even when it is what the client already has: `connected` then means the
   * server answered, and handlers see the config again after every reconnect.
   */
  #request(subscription: Subscription): void {
    this.#send({ typeUrl: subscription.typeUrl, resourceNames: subscription.names, versionInfo: "" });
  }

  #lost(stream: Stream, reason: string): void {
    if (this.#stream !== stream || this.#stopped) return;
    this.#stream = undefined;
    this.#connected = false;
    const delay = retryDelay(this.#attempt, this.#backoff, this.#random);
    this.#attempt += 1;
    this.#options.logger?.warn({ server: this.#options.server, reason, retryInMs: delay }, "xDS stream lost; retrying");
    this.#retryTimer = this.#clock.setTimeout(() => this.#open(), delay);
  }

  async #handle(response: DiscoveryResponse, stream: Stream): Promise<void> {
    if (this.#stream !== stream) return;
    const subscription = this.#subscriptions.get(response.typeUrl);
    if (!subscription) return;
    const answer = { typeUrl: response.typeUrl, responseNonce: response.nonce, resourceNames: subscription.names };
    try {
      const resources = new Map<string, unknown>();
      for (const [index, any] of response.resources.entries()) {
        if (any.typeUrl !== subscription.typeUrl) {
          throw new Error(`resources[${index}] has type ${any.typeUrl}, expected ${subscription.typeUrl}`);
        }
        const { name, message } = subscription.decode(any.value);
        if (name === "") throw new Error(`resources[${index}] has no name`);
        if (resources.has(name)) throw new Error(`resource "${name}" is sent twice`);
        resources.set(name, message);
      }
      await subscription.onUpdate(resources, response.versionInfo);
      subscription.accepted = { version: response.versionInfo, resources };
      if (this.#stream === stream) this.#send({ ...answer, versionInfo: response.versionInfo });
    } catch (err) {
      const message = `${response.typeUrl} version ${response.versionInfo}: ${errorMessage(err)}`;
      this.#options.logger?.warn({ typeUrl: response.typeUrl, error: message }, "xDS config rejected");
      if (this.#stream === stream) {
        this.#send({
          ...answer,
          versionInfo: subscription.accepted?.version ?? "",
          errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message },
        });
      }
    }
  }
}
