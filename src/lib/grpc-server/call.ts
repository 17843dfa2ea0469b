import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { GrpcStatus } from "../grpc.js";
import type { H2Stream, RequestHeaders } from "../h2/index.js";
import type { WaitingCall } from "./deadlines.js";
import { okHeaders, okTrailers, statusTrailers, trailersOnly } from "./status.js";

/** What a unary or server-streaming handler gets besides the request. */
export interface CallContext {
  /** The request headers (gRPC metadata), lowercase names; binary `-bin` values are base64 as sent. */
  readonly headers: RequestHeaders;
  /**
   * When the caller gives up (from `grpc-timeout`), in the server clock's milliseconds (`Date.now()`
   * unless the server was given other timers); undefined when unbounded.
   */
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

/**
 * One gRPC call on one HTTP/2 stream. It answers exactly once: with a message and OK, or with a status.
 * Everything after the stream is gone (the caller cancelled, the connection dropped) is dropped quietly.
 */
export class Call implements CallContext, WaitingCall {
  readonly #stream: H2Stream;
  #controller: AbortController | undefined;
  #release: ((call: Call) => void) | undefined;
  #answered = false;
  #headersSent = false;
  #cancelListeners: (() => void)[] | undefined;

  constructor(
    stream: H2Stream,
    readonly headers: RequestHeaders,
    readonly deadline: number | undefined,
    readonly streaming = false,
  ) {
    this.#stream = stream;
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

  /** Answers with one framed message and OK. */
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
    if (this.#headersSent) stream.trailers(statusTrailers(code, message));
    else stream.respond(trailersOnly(code, message, extra), true);
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
