import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import type { DescMessage } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { systemClock, type Timers } from "../clock.js";
import { GrpcError, GrpcStatus } from "../grpc.js";
import {
  H2Connection,
  type H2ConnectionOptions,
  type H2Stream,
  type RequestHeaders,
  RequestTimeouts,
  ServerLimits,
} from "../h2/index.js";
import type { Logger } from "../logger.js";
import type { Registry } from "../metrics.js";
import { serverLimitMetrics } from "../server-limit-metrics.js";
import { createTlsServer, type TlsFileWatch } from "../tls.js";
import { Call, type StreamContext } from "./call.js";
import { parseGrpcTimeout, WaitingCalls } from "./deadlines.js";
import { encodeResponse, readRequest } from "./messages.js";
import { type GrpcRouter, GrpcRoutes, type Http2ServiceImpl, type Route, type ServiceOptions } from "./router.js";
import { acceptEncoding, CallFailure, grpcContentType, notGrpc } from "./status.js";

// The data-plane services (ext_authz Check, RLS ShouldRateLimit) sit on the request path of every call
// through Envoy. grpc-js spends most of each call on its own machinery (a grpc-js server that answers
// without looking reached 0.62–0.75× of node:http2 in bench/), and node:http2 in turn spends more per
// call than Go's HTTP/2 does. This server speaks gRPC over its own HTTP/2 connection (../h2/), for the
// unary and server-streaming calls those services need. xDS (long-lived bidirectional streams) stays on
// grpc-js.

export interface Http2GrpcServerOptions {
  logger?: Logger;
  /** Largest request message accepted (after decompression); bigger ones get RESOURCE_EXHAUSTED. Default 4 MiB. */
  maxReceiveMessageBytes?: number;
  /** Ping each connection after this long without a ping; a peer that does not answer is dropped. Default 30 s; 0 turns it off. */
  keepaliveTimeMs?: number;
  /** How long a keepalive ping may take. Default 10 s. */
  keepaliveTimeoutMs?: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS announced to each client and enforced. Default 1000. */
  maxConcurrentStreams?: number;
  /** Largest request header list; a larger one gets HTTP 431. Default 64 KiB. */
  maxHeaderListBytes?: number;
  /** A request whose message has not arrived in full this long after its headers is reset. Default 10 s. */
  requestTimeoutMs?: number;
  /** Time for deadlines, keepalives, the request timeout and the shutdown grace. Default the system clock. */
  timers?: Timers;
  /**
   * Serve TLS (ALPN "h2") instead of h2c, with the certificates this watch holds (checked when it was
   * made, before any port opened; reloaded when the files change). Stopped with the server.
   */
  tls?: TlsFileWatch;
  /** Open client connections, at most; a newer one gets GOAWAY and is closed. Default 10,000. */
  maxConnections?: number;
  /** Calls in flight across all connections, at most; a newer one gets REFUSED_STREAM. Default 10,000. */
  maxTotalStreams?: number;
  /** Request bytes held across all connections before the server stops reading. Default 256 MiB. */
  maxBufferedBytes?: number;
  /** Where `gantry_grpc_limit_reached_total` and `gantry_grpc_limit_in_use` go. */
  registry?: Registry;
}

/** The server-wide bounds, as a service passes them through. */
export type GrpcServerLimits = Pick<Http2GrpcServerOptions, "maxConnections" | "maxTotalStreams" | "maxBufferedBytes">;

/**
 * A gRPC server for unary and server-streaming protobuf-es services (h2c, prior knowledge, as Envoy's
 * gRPC clients connect; or TLS with ALPN h2). Handlers get decoded messages and return plain objects or messages;
 * a handler that throws answers its call with a status, never crashes the process.
 */
export class Http2GrpcServer implements GrpcRouter {
  readonly #routes = new GrpcRoutes();
  readonly #connections = new Set<H2Connection>();
  readonly #waiting: WaitingCalls<Call>;
  readonly #timers: Timers;
  readonly #logger: Logger | undefined;
  readonly #maxReceive: number;
  readonly #server: Server;
  readonly #tls: TlsFileWatch | undefined;
  readonly #limits: ServerLimits;
  readonly #onStream = (stream: H2Stream, headers: RequestHeaders) => this.#onRequest(stream, headers);
  #stopping = false;

  constructor(options: Http2GrpcServerOptions = {}) {
    this.#logger = options.logger;
    this.#timers = options.timers ?? systemClock;
    this.#waiting = new WaitingCalls(this.#timers);
    this.#maxReceive = options.maxReceiveMessageBytes ?? 4 * 1024 * 1024;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    checkLimits(options, this.#maxReceive);
    let onLimit: ReturnType<typeof serverLimitMetrics> | undefined;
    const limits = new ServerLimits({
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.maxTotalStreams === undefined ? {} : { maxStreams: options.maxTotalStreams }),
      ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes }),
      onLimit: (bound) => onLimit?.(bound),
    });
    this.#limits = limits;
    if (options.registry) {
      onLimit = serverLimitMetrics(options.registry, () => ({
        connections: limits.connections,
        streams: limits.streams,
        buffered_bytes: limits.bufferedBytes,
      }));
    }
    const connectionOptions: H2ConnectionOptions = {
      serverLimits: limits,
      timers: this.#timers,
      keepaliveTimeMs: options.keepaliveTimeMs ?? 30_000,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 10_000,
      maxHeaderListSize: options.maxHeaderListBytes ?? 64 * 1024,
      // One sweep for the whole server, not a timer per connection.
      requestTimeoutMs,
      ...(requestTimeoutMs > 0 ? { requestTimeouts: new RequestTimeouts(this.#timers, requestTimeoutMs) } : {}),
      // A request message may be up to the receive limit; one stream window holds a quarter of it.
      streamWindow: Math.max(65_535, Math.min(2 ** 31 - 1, Math.ceil((this.#maxReceive + 5) / 4))),
      ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
    };
    const onSocket = (socket: Socket) => this.#onConnection(socket, connectionOptions);
    // A TLS socket, once its handshake is done, goes to the same connection code as a plaintext one.
    this.#tls = options.tls;
    this.#server = this.#tls ? createTlsServer(this.#tls, ["h2"], onSocket, this.#logger) : createServer(onSocket);
  }

  /** Adds a service. Every method must have a handler; client-streaming and bidi methods are not served here. */
  add<S extends GenServiceMethods>(service: GenService<S>, impl: Http2ServiceImpl<S>, options?: ServiceOptions): this {
    this.#routes.add(service, impl, options);
    return this;
  }

  /** Binds and starts serving; resolves to the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      this.#server.once("error", onError);
      this.#server.listen(port, host, () => {
        this.#server.off("error", onError);
        resolve();
      });
    });
    this.#server.on("error", (err) => this.#logger?.error({ err }, "gRPC server error"));
    return (this.#server.address() as AddressInfo).port;
  }

  /** The server-wide bounds and how much of each is in use. */
  get limits(): ServerLimits {
    return this.#limits;
  }

  get port(): number | undefined {
    const address = this.#server.address();
    return address && typeof address === "object" ? address.port : undefined;
  }

  /**
   * Stops taking connections and calls (GOAWAY), ends server streams (they would hold shutdown forever),
   * waits up to `graceMs` for running unary calls, then drops what is left.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.#tls?.stop();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const call of this.#waiting.list()) {
      if (call.streaming) call.fail(GrpcStatus.UNAVAILABLE, "server is stopping");
    }
    for (const connection of this.#connections) connection.close();
    const timer = this.#timers
      .setTimeout(() => {
        for (const call of this.#waiting.list()) call.cancel();
        for (const connection of this.#connections) connection.destroy();
      }, graceMs)
      .unref();
    await closed;
    timer.cancel();
  }

  #onConnection(socket: Socket, options: H2ConnectionOptions): void {
    const connection = new H2Connection(socket, this.#onStream, options);
    this.#connections.add(connection);
    connection.onClose = () => this.#connections.delete(connection);
    connection.onProtocolError = (message) =>
      this.#logger?.debug({ peer: connection.peer, err: message }, "HTTP/2 connection error");
    if (this.#stopping) connection.close();
  }

  #onRequest(stream: H2Stream, headers: RequestHeaders): void {
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || contentType === undefined || !contentType.startsWith(grpcContentType)) {
      // Not gRPC: read the request to its end (so HTTP/2's checks on it apply), then say what this is.
      const answer = headers[":method"] !== "POST" ? notGrpc.methodNotAllowed : notGrpc.unsupportedMediaType;
      stream.onEnd = () => {
        stream.respond(answer, false);
        stream.write(notGrpc.body, true);
      };
      return;
    }
    const timeoutHeader = headers["grpc-timeout"];
    let deadline: number | undefined;
    if (timeoutHeader !== undefined) {
      const timeoutMs = parseGrpcTimeout(timeoutHeader);
      if (timeoutMs === undefined) {
        new Call(stream, headers, undefined).fail(
          GrpcStatus.INVALID_ARGUMENT,
          `malformed grpc-timeout "${timeoutHeader}"`,
        );
        return;
      }
      deadline = this.#timers.now() + timeoutMs;
    }
    const path = headers[":path"] ?? "";
    const route = this.#routes.find(path);
    const call = new Call(stream, headers, deadline, route?.kind === "server_streaming");
    if (!route) {
      call.fail(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    if (this.#stopping) {
      call.fail(GrpcStatus.UNAVAILABLE, "server is stopping");
      return;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity" && encoding !== "gzip" && encoding !== "deflate") {
      call.fail(GrpcStatus.UNIMPLEMENTED, `unsupported grpc-encoding "${encoding}"`, [
        ["grpc-accept-encoding", acceptEncoding],
      ]);
      return;
    }

    // A request in one chunk is read where it lies; one in several is copied into a buffer of its own,
    // which holds its bytes and not the socket's chunks around them.
    const maxBody = this.#maxReceive + 5;
    let body: Buffer | undefined;
    let length = 0;
    stream.onData = (chunk: Buffer, last: boolean) => {
      if (call.answered) return;
      const needed = length + chunk.length;
      if (needed > maxBody) {
        call.fail(GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${this.#maxReceive} bytes`);
        return;
      }
      if (body === undefined && last) {
        body = chunk;
        length = chunk.length;
        return;
      }
      if (body === undefined || needed > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(maxBody, Math.max(2 * needed, 4096)));
        body?.copy(grown, 0, 0, length);
        body = grown;
      }
      chunk.copy(body, length);
      length = needed;
    };
    stream.onEnd = () => {
      if (call.answered) return;
      const bytes = body === undefined ? Buffer.alloc(0) : body.subarray(0, length);
      const failed = (err: unknown) => {
        if (err instanceof CallFailure) call.fail(err.code, err.message);
        else call.fail(GrpcStatus.INTERNAL, "cannot read the request");
      };
      let request: unknown;
      try {
        request = readRequest(bytes, encoding ?? "identity", route.input, route.path, this.#maxReceive);
      } catch (err) {
        failed(err);
        return;
      }
      // Only a compressed request is decoded asynchronously; the usual one goes on in this turn.
      if (request instanceof Promise) request.then((decoded) => this.#dispatch(call, route, decoded), failed);
      else this.#dispatch(call, route, request);
    };
  }

  #dispatch(call: Call, route: Route, request: unknown): void {
    if (call.answered) return;
    if (route.kind === "server_streaming") {
      this.#dispatchStream(call, route, request);
      return;
    }
    let result: unknown;
    try {
      result = route.handler(request, call as never);
    } catch (err) {
      this.#failWith(call, route, err);
      return;
    }
    if (result instanceof Promise) {
      this.#wait(call);
      result.then(
        (response: unknown) => this.#reply(call, route, response),
        (err: unknown) => this.#failWith(call, route, err),
      );
    } else {
      this.#reply(call, route, result);
    }
  }

  #reply(call: Call, route: Route, response: unknown): void {
    if (call.answered) return;
    let body: Buffer;
    try {
      body = encodeResponse(route.output, response);
    } catch (err) {
      this.#failWith(call, route, err);
      return;
    }
    call.reply(body);
  }

  #wait(call: Call): void {
    if (call.answered) return;
    this.#waiting.add(call);
    call.track(this.#waiting.release);
  }

  #dispatchStream(call: Call, route: Route, request: unknown): void {
    this.#wait(call);
    const context: StreamContext<DescMessage> = {
      headers: call.headers,
      deadline: call.deadline,
      get signal() {
        return call.signal;
      },
      get peer() {
        return call.peer;
      },
      write: (message) => call.write(encodeResponse(route.output, message)),
      on(event, listener) {
        call.on(event, listener);
        return this;
      },
    };
    Promise.resolve()
      .then(() => route.handler(request, context as never))
      .then(
        () => call.end(),
        (err: unknown) => this.#failWith(call, route, err),
      );
  }

  #failWith(call: Call, route: Route, err: unknown): void {
    if (err instanceof GrpcError) {
      call.fail(err.code, err.message);
      return;
    }
    this.#logger?.error({ err, method: route.path }, "handler failed");
    call.fail(GrpcStatus.INTERNAL, "internal error");
  }
}

/** Refuses bounds that cannot work together, before the server exists. */
function checkLimits(options: Http2GrpcServerOptions, maxReceive: number): void {
  for (const name of ["maxConnections", "maxTotalStreams", "maxBufferedBytes", "maxConcurrentStreams"] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(`${name} must be a positive integer, not ${value}`);
    }
  }
  // A request is held whole until it ends: a budget below the largest one would stall it until its timeout.
  if (options.maxBufferedBytes !== undefined && options.maxBufferedBytes < maxReceive + 5) {
    throw new RangeError(
      `maxBufferedBytes (${options.maxBufferedBytes}) is below the largest request accepted (${maxReceive} bytes)`,
    );
  }
}
