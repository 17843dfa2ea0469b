// The agent's end of the relay: it dials out (so it works through NAT), holds one Relay.Connect
// stream, and when the stream ends dials again with back-off, moving to the next address given (a
// second server replica). Each new stream starts with a Hello saying what the agent holds, so the
// server sends only what differs.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import {
  type AgentMessage,
  AgentMessageSchema,
  type Hello,
  type HelloSchema,
  type Output,
  Relay,
  type ServerMessage,
} from "../gen/gantry/relay/v1/relay_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import { createClient, type ServiceClient } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import { type Backoff, retryDelay } from "../xds/index.js";

/** Reconnects fast: an agent whose replica died must reach another within seconds. */
export const relayBackoff: Backoff = { initialMs: 200, maxMs: 2_000 };

export interface RelayClientOptions {
  /** host:port of each server replica (or one address in front of them), tried in turn. */
  addresses: readonly string[];
  /** The agent's mTLS credentials from registration (`src/cluster`); default insecure (loopback tests). */
  credentials?: grpc.ChannelCredentials;
  /** Channel options those credentials need (the relay certificate's name). */
  channelOptions?: grpc.ChannelOptions;
  /** The Hello of a new stream: what the agent holds now. */
  hello(): MessageInitShape<typeof HelloSchema>;
  /** An output from the server; rejecting refuses it (the agent keeps what it had and says why). */
  onOutput(output: Output): Promise<void>;
  /** A stream opened (its Hello sent): the agent sends its discovery whole, then its proxies. */
  onOpen(): void;
  /** The server asked for the discovery whole. */
  onResyncDiscovery(reason: string): void;
  /** The stream ended; the client dials again. */
  onClose(error: Error | undefined): void;
  logger: Logger;
  timers?: Timers;
  backoff?: Backoff;
  random?: () => number;
}

type Stream = grpc.ClientDuplexStream<AgentMessage, ServerMessage>;

export class RelayClient {
  readonly #options: RelayClientOptions;
  readonly #timers: Timers;
  #client: ServiceClient<typeof Relay.method> | undefined;
  #addressIndex = 0;
  #stream: Stream | undefined;
  #retry: Timer | undefined;
  #attempt = 0;
  #stopped = false;
  /** Outputs are taken one at a time, in order. */
  #outputs: Promise<void> = Promise.resolve();
  #heard = false;

  constructor(options: RelayClientOptions) {
    if (options.addresses.length === 0) throw new Error("--relay: at least one host:port is required");
    this.#options = options;
    this.#timers = options.timers ?? systemClock;
  }

  get connected(): boolean {
    return this.#stream !== undefined;
  }

  /** The open stream has heard from the server (a stream to a dead address is open until it fails). */
  get established(): boolean {
    return this.#stream !== undefined && this.#heard;
  }

  get address(): string {
    return this.#options.addresses[this.#addressIndex] ?? "";
  }

  start(): void {
    this.#dial();
  }

  /** Sends on the open stream; dropped when none is open (a new stream starts with everything again). */
  send(message: NonNullable<MessageInitShape<typeof AgentMessageSchema>["message"]>): void {
    this.#stream?.write(create(AgentMessageSchema, { message }));
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#client?.close();
  }

  #dial(): void {
    if (this.#stopped) return;
    const address = this.address;
    this.#client?.close();
    const client = createClient(Relay, address, {
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
      channelOptions: {
        // A replica that vanishes without a FIN is noticed by keepalive within seconds.
        "grpc.keepalive_time_ms": 2_000,
        "grpc.keepalive_timeout_ms": 1_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 1_000,
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        ...this.#options.channelOptions,
      },
    });
    this.#client = client;
    const stream = client.connect() as Stream;
    let ended = false;
    const end = (error: Error | undefined) => {
      if (ended) return;
      ended = true;
      if (this.#stream === stream) this.#stream = undefined;
      stream.cancel();
      this.#options.onClose(error);
      if (this.#stopped) return;
      // The next dial goes to the next address: the replica that ended the stream may be gone.
      this.#addressIndex = (this.#addressIndex + 1) % this.#options.addresses.length;
      const delay = retryDelay(
        this.#attempt,
        this.#options.backoff ?? relayBackoff,
        this.#options.random ?? Math.random,
      );
      this.#attempt += 1;
      this.#retry = this.#timers.setTimeout(() => this.#dial(), delay);
    };
    stream.on("data", (message: ServerMessage) => {
      // Data proves the server took the Hello: back-off starts over.
      this.#attempt = 0;
      if (this.#stream === stream) this.#heard = true;
      this.#handle(message);
    });
    stream.on("error", (err: Error) => end(err));
    stream.on("end", () => end(undefined));
    this.#stream = stream;
    this.#heard = false;
    stream.write(create(AgentMessageSchema, { message: { case: "hello", value: this.#options.hello() } }));
    this.#options.onOpen();
  }

  #handle(message: ServerMessage): void {
    switch (message.message.case) {
      case "output": {
        const output = message.message.value;
        this.#outputs = this.#outputs.then(() =>
          this.#options.onOutput(output).then(
            () => this.send({ case: "outputAck", value: { version: output.version, error: "" } }),
            (err: unknown) =>
              this.send({
                case: "outputAck",
                value: { version: output.version, error: err instanceof Error ? err.message : String(err) },
              }),
          ),
        );
        break;
      }
      case "resyncDiscovery":
        this.#options.onResyncDiscovery(message.message.value.reason);
        break;
      default:
        break;
    }
  }
}

/** A Hello's stale_since from clock ms. */
export function staleSinceField(ms: number | undefined): Pick<Hello, "staleSince"> | Record<string, never> {
  return ms === undefined ? {} : { staleSince: timestampFromMs(ms) };
}
