// The grpc-js server of protobuf-es services (ADS, the management API's gRPC, the relay, tests):
// handlers wrapped so that errors become statuses, keepalive defaults, TLS, the connection cap and
// a shutdown grace on the injected clock.
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Timers } from "./clock.js";
import { type CappedListener, listenWithConnectionCap } from "./grpc-connection-cap.js";
import { methodPath, type ServiceImpl, serviceDefinition, toServiceError } from "./grpc-service.js";
import { serverCredentials } from "./grpc-tls.js";
import type { ServerLimits } from "./h2/server-limits.js";
import type { Logger } from "./logger.js";
import type { TlsFileWatch } from "./tls.js";

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
