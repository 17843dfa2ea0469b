import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { promisify } from "node:util";
import { gunzip, inflate } from "node:zlib";
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
import { GrpcError, GrpcStatus } from "./grpc.js";
import { encodeHeaders, H2Connection, type H2Stream, type RequestHeaders } from "./h2/index.js";
import type { Logger } from "./logger.js";

// The data-plane services (ext_authz Check, RLS ShouldRateLimit) sit on the request path of every call
// through Envoy. grpc-js spends most of each call on its own machinery (a grpc-js server that answers
// without looking reached 0.62–0.75× of node:http2 in bench/), and node:http2 in turn spends more per
// call than Go's HTTP/2 does. This server speaks gRPC over its own HTTP/2 connection (./h2/), for the
// unary and server-streaming calls those services need. xDS (long-lived bidirectional streams) stays on
// grpc-js.

/** What a unary or server-streaming handler gets besides the request. */
export interface CallContext {
  /** The request headers (gRPC metadata), lowercase names; binary `-bin` values are base64 as sent. */
  readonly headers: RequestHeaders;
  /** When the caller gives up (from `grpc-timeout`), in `Date.now()` milliseconds; undefined when unbounded. */
  readonly deadline: number | undefined;
  /** Aborted when the caller cancels, the deadline passes or the server stops. */
  readonly signal: AbortSignal;
  /** The caller's address as `host:port`. */
  readonly peer: string;
}

/** A server-streaming call: write messages; `cancelled` fires when the caller goes away or the server stops. */
export interface StreamContext<O extends DescMessage> extends CallContext {
  write(message: MessageInitShape<O>): boolean;
  on(event: "cancelled", listener: () => void): this;
}

type Method = GenServiceMethods[string];

/** What a unary handler answers: a message, its init shape, or bytes it encoded itself. */
export type UnaryAnswer<O extends DescMessage> = MessageInitShape<O> | EncodedMessage<O>;

export type Http2MethodHandler<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, call: CallContext) => UnaryAnswer<O> | Promise<UnaryAnswer<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, call: StreamContext<O>) => Promise<void>
    : never;

export type Http2ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: Http2MethodHandler<S[K]> };

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
}

interface RegisteredMethod {
  readonly path: string;
  readonly kind: "unary" | "server_streaming";
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly handler: (request: unknown, call: never) => unknown;
}

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);
const acceptEncoding = "identity,gzip,deflate";
const grpcContentType = "application/grpc";
// Every answer's headers and OK trailers are the same bytes; they are encoded once.
const okHeaders = encodeHeaders([
  [":status", "200"],
  ["content-type", grpcContentType],
]);
const okTrailers = encodeHeaders([["grpc-status", "0"]]);
/** How often waiting calls are checked against their deadlines. Callers enforce their own deadline exactly. */
const deadlineSweepMs = 10;

/** `grpc-timeout` is 1–8 digits and a unit (H, M, S, m, u, n); returns milliseconds, or undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]);
  switch (match[2]) {
    case "H":
      return amount * 3_600_000;
    case "M":
      return amount * 60_000;
    case "S":
      return amount * 1_000;
    case "m":
      return amount;
    case "u":
      return amount / 1_000;
    default:
      return amount / 1_000_000;
  }
}

/** Percent-encodes a status message as gRPC requires: printable ASCII except `%` stays, all else is UTF-8 %XX. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.byteLength);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * A response a handler encoded itself (a hand-written encoder on a hot path); the server frames and
 * sends the bytes as they are. The schema only types it: `O` is the method's output.
 */
export class EncodedMessage<O extends DescMessage> {
  constructor(
    readonly schema: O,
    readonly bytes: Uint8Array,
  ) {}
}

/** Responses encoded once and answered many times (see `encodeOnce`), by message object. */
const encodedOnce = new WeakMap<object, Buffer>();

/**
 * Encodes `message` now and marks it so the HTTP/2 server sends those bytes whenever a handler returns
 * this very object: for answers that repeat (a cached verdict), encoding is then paid once. The message
 * is frozen; it must not be changed afterwards (nested values are the caller's to leave alone).
 */
export function encodeOnce<O extends DescMessage>(schema: O, message: MessageShape<O>): MessageShape<O> {
  if (!encodedOnce.has(message)) encodedOnce.set(message, frame(toBinary(schema, message)));
  Object.freeze(message);
  return message;
}

function encode(schema: DescMessage, value: unknown): Buffer {
  if (value instanceof EncodedMessage) return frame(value.bytes);
  const known = typeof value === "object" && value !== null ? encodedOnce.get(value) : undefined;
  if (known) return known;
  const message = isMessage(value, schema) ? value : create(schema, value as MessageInitShape<DescMessage>);
  return frame(toBinary(schema, message));
}

/** A call that could not be answered normally; `code` and `message` go to the caller. */
class CallFailure extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One gRPC call on one HTTP/2 stream. It answers exactly once: with a message and OK, or with a status.
 * Everything after the stream is gone (the caller cancelled, the connection dropped) is dropped quietly.
 */
class Call implements CallContext {
  readonly #stream: H2Stream;
  readonly deadline: number | undefined;
  #controller: AbortController | undefined;
  #release: ((call: Call) => void) | undefined;
  #answered = false;
  #headersSent = false;
  #cancelListeners: (() => void)[] | undefined;

  constructor(
    stream: H2Stream,
    readonly headers: RequestHeaders,
    timeoutMs: number | undefined,
    readonly streaming = false,
  ) {
    this.#stream = stream;
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get peer(): string {
    return this.#stream.peer;
  }

  get answered(): boolean {
    return this.#answered;
  }

  /**
   * The call waits for its handler: watch for the caller going away, and tell `release` once it is
   * answered. Calls answered at once never pay for this.
   */
  track(release: (call: Call) => void): void {
    this.#release = release;
    this.#stream.onClose = () => this.cancel();
  }

  on(_event: "cancelled", listener: () => void): this {
    this.#cancelListeners ??= [];
    this.#cancelListeners.push(listener);
    return this;
  }

  /** The caller went away or the server is stopping: nothing more can be sent. */
  cancel(): void {
    if (this.#answered) return;
    this.#finish();
  }

  reply(body: Buffer): void {
    if (this.#answered) return;
    this.#finish();
    this.#stream.answer(okHeaders, body, okTrailers);
  }

  /** Sends one message of a server stream, with the response headers first. */
  write(body: Buffer): boolean {
    const stream = this.#stream;
    if (this.#answered || stream.done) return false;
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond(okHeaders, false);
    }
    return stream.write(body);
  }

  /** Ends a server stream with OK (trailers only when it wrote nothing). */
  end(): void {
    if (this.#answered) return;
    if (!this.#headersSent) {
      this.fail(GrpcStatus.OK, "");
      return;
    }
    this.#finish();
    this.#stream.trailers(okTrailers);
  }

  fail(code: GrpcStatus, message: string, extra: ReadonlyArray<readonly [string, string]> = []): void {
    if (this.#answered) return;
    const stream = this.#stream;
    this.#finish();
    if (stream.done) return;
    const status: [string, string][] = [["grpc-status", String(code)]];
    if (message) status.push(["grpc-message", encodeGrpcMessage(message)]);
    if (this.#headersSent) {
      stream.trailers(encodeHeaders(status));
    } else {
      // A trailers-only response: the status travels in the only HEADERS frame.
      stream.respond(encodeHeaders([[":status", "200"], ["content-type", grpcContentType], ...status, ...extra]), true);
    }
    // The caller may still be sending (an oversized or unwanted request body); stop it.
    stream.abandonRequest();
  }

  #finish(): void {
    this.#answered = true;
    if (this.#release) {
      this.#release(this);
      this.#release = undefined;
    }
    this.#controller?.abort();
    const listeners = this.#cancelListeners;
    if (listeners) {
      this.#cancelListeners = undefined;
      for (const listener of listeners) listener();
    }
  }
}

function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * A gRPC server for unary and server-streaming protobuf-es services (h2c, prior knowledge, as Envoy's
 * gRPC clients connect). Handlers get decoded messages and return plain objects or messages;
 * a handler that throws answers its call with a status, never crashes the process.
 */
export class Http2GrpcServer {
  readonly #methods = new Map<string, RegisteredMethod>();
  readonly #connections = new Set<H2Connection>();
  /** Calls waiting for their handler (the only ones a deadline, a cancel or shutdown can still affect). */
  readonly #waiting = new Set<Call>();
  #sweeper: NodeJS.Timeout | undefined;
  readonly #release = (call: Call) => {
    this.#waiting.delete(call);
    if (this.#waiting.size === 0 && this.#sweeper) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  };
  readonly #logger: Logger | undefined;
  readonly #maxReceive: number;
  readonly #server: Server;
  readonly #onStream = (stream: H2Stream, headers: RequestHeaders) => this.#onRequest(stream, headers);
  #stopping = false;

  constructor(options: Http2GrpcServerOptions = {}) {
    this.#logger = options.logger;
    this.#maxReceive = options.maxReceiveMessageBytes ?? 4 * 1024 * 1024;
    const connectionOptions = {
      keepaliveTimeMs: options.keepaliveTimeMs ?? 30_000,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 10_000,
      maxHeaderListSize: options.maxHeaderListBytes ?? 64 * 1024,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      // A request message may be up to the receive limit; one stream window holds a quarter of it.
      streamWindow: Math.max(65_535, Math.min(2 ** 31 - 1, Math.ceil((this.#maxReceive + 5) / 4))),
      ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
    };
    this.#server = createServer((socket) => this.#onConnection(socket, connectionOptions));
  }

  /** Adds a service. Every method must have a handler; client-streaming and bidi methods are not served here. */
  add<S extends GenServiceMethods>(service: GenService<S>, impl: Http2ServiceImpl<S>): this {
    const handlers = impl as unknown as Record<string, RegisteredMethod["handler"] | undefined>;
    for (const method of (service as unknown as GenService<GenServiceMethods>).methods) {
      const path = methodPath(method);
      if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
        throw new Error(`${path}: ${method.methodKind} methods are not supported on the HTTP/2 server`);
      }
      const handler = handlers[method.localName];
      if (typeof handler !== "function") throw new Error(`${path}: no handler given`);
      if (this.#methods.has(path)) throw new Error(`${path}: added twice`);
      this.#methods.set(path, { path, kind: method.methodKind, input: method.input, output: method.output, handler });
    }
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
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const call of [...this.#waiting]) {
      if (call.streaming) call.fail(GrpcStatus.UNAVAILABLE, "server is stopping");
    }
    for (const connection of this.#connections) connection.close();
    const timer = setTimeout(() => {
      for (const call of [...this.#waiting]) call.cancel();
      for (const connection of this.#connections) connection.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  #onConnection(socket: Socket, options: ConstructorParameters<typeof H2Connection>[2]): void {
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
      const answer = headers[":method"] !== "POST" ? methodNotAllowed : unsupportedMediaType;
      stream.onEnd = () => {
        stream.respond(answer, false);
        stream.write(notGrpcBody, true);
      };
      return;
    }
    const timeoutHeader = headers["grpc-timeout"];
    let timeoutMs: number | undefined;
    if (timeoutHeader !== undefined) {
      timeoutMs = parseGrpcTimeout(timeoutHeader);
      if (timeoutMs === undefined) {
        new Call(stream, headers, undefined).fail(
          GrpcStatus.INVALID_ARGUMENT,
          `malformed grpc-timeout "${timeoutHeader}"`,
        );
        return;
      }
    }
    const path = headers[":path"] ?? "";
    const method = this.#methods.get(path);
    const call = new Call(stream, headers, timeoutMs, method?.kind === "server_streaming");
    if (!method) {
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
    let body: Buffer | undefined;
    let length = 0;
    stream.onData = (chunk: Buffer, last: boolean) => {
      if (call.answered) return;
      const needed = length + chunk.length;
      if (needed > this.#maxReceive + 5) {
        call.fail(GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${this.#maxReceive} bytes`);
        return;
      }
      if (body === undefined && last) {
        body = chunk;
        length = chunk.length;
        return;
      }
      if (body === undefined || needed > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(this.#maxReceive + 5, Math.max(2 * needed, 4096)));
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
        request = this.#decode(bytes, encoding ?? "identity", method);
      } catch (err) {
        failed(err);
        return;
      }
      // Only a compressed request is decoded asynchronously; the usual one goes on in this turn.
      if (request instanceof Promise) request.then((decoded) => this.#dispatch(call, method, decoded), failed);
      else this.#dispatch(call, method, request);
    };
  }

  /** The one request message of a unary or server-streaming call; a promise only when it must be decompressed. */
  #decode(bytes: Buffer, encoding: string, method: RegisteredMethod): unknown {
    if (bytes.length < 5) throw new CallFailure(GrpcStatus.INTERNAL, "the request has no complete message");
    const compressed = bytes[0];
    const length = bytes.readUInt32BE(1);
    if (compressed !== 0 && compressed !== 1) throw new CallFailure(GrpcStatus.INTERNAL, "malformed message frame");
    if (length > this.#maxReceive) {
      throw new CallFailure(GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${this.#maxReceive} bytes`);
    }
    if (bytes.length < 5 + length) throw new CallFailure(GrpcStatus.INTERNAL, "the request message is truncated");
    if (bytes.length > 5 + length) {
      throw new CallFailure(GrpcStatus.INTERNAL, `${method.path} takes one request message, more were sent`);
    }
    const payload = bytes.subarray(5);
    if (compressed === 0) return parseMessage(method, payload);
    if (encoding === "identity") {
      throw new CallFailure(GrpcStatus.INTERNAL, "a compressed message arrived without a grpc-encoding");
    }
    const options = { maxOutputLength: this.#maxReceive };
    return (encoding === "gzip" ? gunzipAsync(payload, options) : inflateAsync(payload, options)).then(
      (inflated) => parseMessage(method, inflated),
      (err: unknown) => {
        const tooBig = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
        throw new CallFailure(
          tooBig ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
          tooBig ? `request larger than ${this.#maxReceive} bytes` : `cannot decompress the ${encoding} request`,
        );
      },
    );
  }

  #dispatch(call: Call, method: RegisteredMethod, request: unknown): void {
    if (call.answered) return;
    if (method.kind === "server_streaming") {
      this.#dispatchStream(call, method, request);
      return;
    }
    let result: unknown;
    try {
      result = method.handler(request, call as never);
    } catch (err) {
      this.#failWith(call, method, err);
      return;
    }
    if (result instanceof Promise) {
      this.#wait(call);
      result.then(
        (response: unknown) => this.#reply(call, method, response),
        (err: unknown) => this.#failWith(call, method, err),
      );
    } else {
      this.#reply(call, method, result);
    }
  }

  #reply(call: Call, method: RegisteredMethod, response: unknown): void {
    if (call.answered) return;
    let body: Buffer;
    try {
      body = encode(method.output, response);
    } catch (err) {
      this.#failWith(call, method, err);
      return;
    }
    call.reply(body);
  }

  #wait(call: Call): void {
    if (call.answered) return;
    this.#waiting.add(call);
    call.track(this.#release);
    if (call.deadline !== undefined && !this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweepDeadlines(), deadlineSweepMs);
      this.#sweeper.unref();
    }
  }

  #sweepDeadlines(): void {
    const now = Date.now();
    for (const call of [...this.#waiting]) {
      if (call.deadline !== undefined && call.deadline <= now)
        call.fail(GrpcStatus.DEADLINE_EXCEEDED, "deadline exceeded");
    }
  }

  #dispatchStream(call: Call, method: RegisteredMethod, request: unknown): void {
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
      write: (message) => call.write(encode(method.output, message)),
      on(event, listener) {
        call.on(event, listener);
        return this;
      },
    };
    Promise.resolve()
      .then(() => method.handler(request, context as never))
      .then(
        () => call.end(),
        (err: unknown) => this.#failWith(call, method, err),
      );
  }

  #failWith(call: Call, method: RegisteredMethod, err: unknown): void {
    if (err instanceof GrpcError) {
      call.fail(err.code, err.message);
      return;
    }
    this.#logger?.error({ err, method: method.path }, "handler failed");
    call.fail(GrpcStatus.INTERNAL, "internal error");
  }
}

function parseMessage(method: RegisteredMethod, payload: Uint8Array): unknown {
  try {
    return fromBinary(method.input, payload);
  } catch {
    throw new CallFailure(GrpcStatus.INVALID_ARGUMENT, `the request is not a valid ${method.input.typeName}`);
  }
}

const methodNotAllowed = encodeHeaders([
  [":status", "405"],
  ["allow", "POST"],
  ["content-type", "text/plain"],
]);
const unsupportedMediaType = encodeHeaders([
  [":status", "415"],
  ["content-type", "text/plain"],
]);
const notGrpcBody = Buffer.from("this is a gRPC server: use POST with content-type application/grpc\n");
