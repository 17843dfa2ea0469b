import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Timers } from "./clock.js";
import { type CappedListener, listenWithConnectionCap } from "./grpc-connection-cap.js";
import { serverCredentials } from "./grpc-tls.js";
import type { ServerLimits } from "./h2/server-limits.js";
import type { Logger } from "./logger.js";
import type { TlsFileWatch } from "./tls.js";

export { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * An error a handler throws to answer with a specific gRPC status. Any other error becomes
 * INTERNAL with a generic message: internals are logged, never sent to the caller.
 */
export class GrpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = "GrpcError";
  }
}

type Method = GenServiceMethods[string];

/** The grpc-js call a unary handler gets: its metadata, peer, deadline and cancellation. */
export type UnaryCall<I extends DescMessage, O extends DescMessage> = grpc.ServerUnaryCall<
  MessageShape<I>,
  MessageShape<O>
>;
export type ServerStreamCall<I extends DescMessage, O extends DescMessage> = grpc.ServerWritableStream<
  MessageShape<I>,
  MessageInitShape<O>
>;
export type BidiCall<I extends DescMessage, O extends DescMessage> = grpc.ServerDuplexStream<
  MessageShape<I>,
  MessageInitShape<O>
>;

/** The handler for one method, by its kind. Unary handlers return (or resolve to) the response. */
export type MethodHandler<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, call: UnaryCall<I, O>) => MessageInitShape<O> | Promise<MessageInitShape<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, call: ServerStreamCall<I, O>) => Promise<void>
    : M extends {
          methodKind: "bidi_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (call: BidiCall<I, O>) => void
      : never;

/** An implementation of a generated service: one handler per method, by its local name. */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: MethodHandler<S[K]> };

/**
 * A message already encoded by the handler, in parts that make it when joined (a body shared by many
 * calls, then what is particular to this one): written as those bytes, not serialized again. The xDS
 * server encodes a response once for every stream that sends it (see `writeEncoded`).
 */
class PreEncoded {
  readonly byteLength: number;
  constructor(readonly parts: readonly Uint8Array[]) {
    this.byteLength = parts.reduce((sum, part) => sum + part.byteLength, 0);
  }

  /**
   * grpc-js frames what a serializer returns by reading its `byteLength` and calling
   * `copy(output, 5)` after the length prefix (server-interceptors.js serializeMessage): copying the
   * parts there saves joining them first, one copy of every response per stream. The framing is
   * pinned by test/lib/grpc-pre-encoded.test.ts.
   */
  copy(target: Buffer, at: number): number {
    let offset = at;
    for (const part of this.parts) {
      target.set(part, offset);
      offset += part.byteLength;
    }
    return this.byteLength;
  }
}

/** Writes one message of the call's response type, already encoded as `parts` (joined in order), to a streaming call. */
export function writeEncoded(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  parts: readonly Uint8Array[],
  done: () => void,
): void {
  call.write(new PreEncoded(parts), done);
}

function serializer<O extends DescMessage>(schema: O): (value: MessageInitShape<O>) => Buffer {
  return (value) => {
    if (value instanceof PreEncoded) return value as unknown as Buffer;
    const message = isMessage(value, schema) ? value : create(schema, value);
    const bytes = toBinary(schema, message as MessageShape<O>);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<I extends DescMessage>(schema: I): (bytes: Buffer) => MessageShape<I> {
  return (bytes) => fromBinary(schema, bytes);
}

function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The grpc-js service definition of a generated service, keyed by local method name. */
export function serviceDefinition(service: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind === "client_streaming") {
      throw new Error(`${methodPath(method)}: client-streaming methods are not supported`);
    }
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "bidi_streaming",
      responseStream: method.methodKind !== "unary",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition;
}

/** Turns anything a handler threw into a status for the caller; unexpected errors are logged, not leaked. */
export function toServiceError(err: unknown, logger: Logger | undefined, path: string): grpc.ServiceError {
  if (err instanceof GrpcError) {
    return Object.assign(new Error(err.message), {
      code: err.code,
      details: err.message,
      metadata: new grpc.Metadata(),
    });
  }
  logger?.error({ err, method: path }, "handler failed");
  return Object.assign(new Error("internal error"), {
    code: grpc.status.INTERNAL,
    details: "internal error",
    metadata: new grpc.Metadata(),
  });
}

function wrapHandlers(
  service: GenService<GenServiceMethods>,
  impl: Record<string, unknown>,
  logger: Logger | undefined,
): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = impl[method.localName];
    if (typeof handler !== "function") throw new Error(`${methodPath(method)}: no handler given`);
    const path = methodPath(method);
    switch (method.methodKind) {
      case "unary":
        handlers[method.localName] = (
          call: grpc.ServerUnaryCall<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          let result: unknown;
          try {
            result = handler(call.request, call);
          } catch (err) {
            callback(toServiceError(err, logger, path));
            return;
          }
          if (result instanceof Promise) {
            result.then(
              (response: unknown) => callback(null, response),
              (err: unknown) => callback(toServiceError(err, logger, path)),
            );
          } else {
            callback(null, result);
          }
        };
        break;
      case "server_streaming":
        handlers[method.localName] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          Promise.resolve()
            .then(() => handler(call.request, call))
            .then(
              () => call.end(),
              (err: unknown) => call.destroy(toServiceError(err, logger, path)),
            );
        };
        break;
      case "bidi_streaming":
        handlers[method.localName] = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
          try {
            handler(call);
          } catch (err) {
            call.destroy(toServiceError(err, logger, path));
          }
        };
        break;
      default:
        throw new Error(`${path}: ${method.methodKind} methods are not supported`);
    }
  }
  return handlers;
}

/** Channel options that keep long-lived streams (xDS) alive through idle proxies and detect dead peers. */
export const defaultServerOptions: grpc.ServerOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": 16 * 1024 * 1024,
};

export interface GrpcServerOptions {
  logger?: Logger;
  /** grpc-js channel options, merged over `defaultServerOptions`. */
  channelOptions?: grpc.ServerOptions;
  /** Runs the shutdown grace period. Default the system clock. */
  clock?: Timers;
  /** Serve TLS with the certificates this watch holds (mTLS with a client CA); stopped with the server. */
  tls?: TlsFileWatch;
  /** Counts connections against `maxConnections` (refused over it with GOAWAY); grpc-js alone has no cap. */
  connectionLimits?: ServerLimits;
  /** Credentials made elsewhere (the relay port's, which check callers per call); instead of `tls`. */
  credentials?: grpc.ServerCredentials;
}

/**
 * A grpc-js server that serves protobuf-es services. Handlers get decoded protobuf-es messages and
 * return plain objects or messages; errors never escape to crash the process.
 */
export class GrpcServer {
  readonly #server: grpc.Server;
  readonly #logger: Logger | undefined;
  readonly #clock: Timers;
  readonly #tls: TlsFileWatch | undefined;
  readonly #credentials: grpc.ServerCredentials | undefined;
  #port: number | undefined;
  readonly #limits: ServerLimits | undefined;
  #capped: CappedListener | undefined;

  constructor(options: GrpcServerOptions = {}) {
    this.#logger = options.logger;
    this.#tls = options.tls;
    this.#credentials = options.credentials;
    this.#clock = options.clock ?? systemClock;
    this.#server = new grpc.Server({ ...defaultServerOptions, ...options.channelOptions });
    this.#limits = options.connectionLimits;
  }

  /** Adds a service. Every method must have a handler. */
  add<S extends GenServiceMethods>(service: GenService<S>, impl: ServiceImpl<S>): this {
    const untyped = service as unknown as GenService<GenServiceMethods>;
    this.#server.addService(serviceDefinition(untyped), wrapHandlers(untyped, impl, this.#logger));
    return this;
  }

  /** Binds and starts serving; resolves to the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    const credentials =
      this.#credentials ?? (this.#tls ? serverCredentials(this.#tls) : grpc.ServerCredentials.createInsecure());
    if (this.#limits) {
      this.#capped = await listenWithConnectionCap(this.#server, credentials, host, port, this.#limits);
      this.#port = this.#capped.port;
      return this.#port;
    }
    const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, credentials, (err, bound) =>
        err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(bound),
      );
    });
    return this.#port;
  }

  get port(): number | undefined {
    return this.#port;
  }

  /**
   * Closes the connection a call came on (`call.getPeer()`), with every stream on it: for a client
   * that stopped reading, whose unwritten responses only its connection's end gives back (grpc-js can
   * end a call only behind the data it has not written). False when the connection is not known:
   * only a server with `connectionLimits` accepts its own sockets.
   */
  dropConnection(peer: string): boolean {
    return this.#capped?.destroyPeer(peer) ?? false;
  }

  /**
   * Stops taking new calls and waits up to `graceMs` for running ones to finish, then cancels
   * whatever is left (long-lived streams such as xDS would otherwise hold shutdown forever).
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    const capped = this.#capped?.close();
    this.#tls?.stop();
    await new Promise<void>((resolve) => {
      const timer = this.#clock
        .setTimeout(() => {
          this.#server.forceShutdown();
          resolve();
        }, graceMs)
        .unref();
      this.#server.tryShutdown(() => {
        timer.cancel();
        resolve();
      });
    });
    this.#capped?.destroyConnections();
    await capped;
  }
}

export interface CallOptions {
  /** Milliseconds from now until the call is cancelled with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

type ClientMethod<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageInitShape<I>, options?: CallOptions) => grpc.ClientReadableStream<MessageShape<O>>
    : M extends {
          methodKind: "bidi_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (options?: CallOptions) => grpc.ClientDuplexStream<MessageInitShape<I>, MessageShape<O>>
      : never;

/** A typed client of a generated service, plus the channel underneath for closing it. */
export type ServiceClient<S extends GenServiceMethods> = { [K in keyof S]: ClientMethod<S[K]> } & {
  readonly channel: grpc.Client;
  close(): void;
};

export interface ClientOptions {
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** grpc-js runs the deadline itself, against the wall clock, and sends it to the server: it is not ours to fake. */
function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  return options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

/** Creates a typed client for `service` at `address` (host:port). */
export function createClient<S extends GenServiceMethods>(
  service: GenService<S>,
  address: string,
  options: ClientOptions = {},
): ServiceClient<S> {
  const untyped = service as unknown as GenService<GenServiceMethods>;
  const Constructor = grpc.makeGenericClientConstructor(serviceDefinition(untyped), service.typeName);
  const channel = new Constructor(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions ?? {},
  ) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const client: Record<string, unknown> = {
    channel,
    close: () => channel.close(),
  };
  for (const method of untyped.methods) {
    const call = channel[method.localName];
    if (!call) continue;
    const name = method.localName;
    switch (method.methodKind) {
      case "unary":
        client[name] = (request: unknown, opts?: CallOptions) =>
          new Promise((resolve, reject) => {
            channel[name]?.(
              request,
              opts?.metadata ?? new grpc.Metadata(),
              callOptions(opts),
              (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)),
            );
          });
        break;
      case "server_streaming":
        client[name] = (request: unknown, opts?: CallOptions) =>
          channel[name]?.(request, opts?.metadata ?? new grpc.Metadata(), callOptions(opts));
        break;
      case "bidi_streaming":
        client[name] = (opts?: CallOptions) =>
          channel[name]?.(opts?.metadata ?? new grpc.Metadata(), callOptions(opts));
        break;
      default:
        break;
    }
  }
  return client as ServiceClient<S>;
}
