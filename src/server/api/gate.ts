import type { IncomingMessage, ServerResponse } from "node:http";
import { type Http2ServerRequest, type Http2ServerResponse, constants as http2Constants } from "node:http2";
import type { Timers } from "../../lib/clock.js";
import type { ApiAuth, ApiCaller, Identification } from "./auth.js";
import type { FailedAuthLimiter } from "./failed-auth.js";

export type ApiRequest = IncomingMessage | Http2ServerRequest;
export type ApiResponse = ServerResponse | Http2ServerResponse;
export type ApiHandler = (request: ApiRequest, response: ApiResponse) => void;

/** Why a request is answered without being served; statuses per protocol. */
interface Refusal {
  /** The Connect error code (JSON body of a Connect answer). */
  code: "unauthenticated" | "resource_exhausted" | "unavailable";
  grpcStatus: number;
  httpStatus: number;
  message: string;
  retryAfterSeconds?: number;
}

export interface GateOptions {
  auth: ApiAuth;
  failures: FailedAuthLimiter;
  maxBodyBytes: number;
  timers: Timers;
}

/**
 * How long an HTTP/1.1 connection stays half-open after a refusal. Closing at once while the
 * client is still sending makes the kernel answer with a reset, which can destroy the refusal
 * before the client reads it; meanwhile what it sends is discarded, never kept.
 */
const refusedLingerMs = 1_000;

const grpcContentType = /^application\/grpc(-web(-text)?)?([+;]|$)/i;

/**
 * Decides on a request from its headers alone, before a byte of its body is read: an address
 * that failed to authenticate too often is turned away without its token being compared (429 /
 * RESOURCE_EXHAUSTED, with Retry-After); a missing or wrong token is refused (401 /
 * UNAUTHENTICATED; an OIDC ID token is verified asynchronously, still before the body is read); a
 * token that cannot be checked while a backend is down is answered 503 / UNAVAILABLE, uncounted; the
 * caller it identified (role, secrets) is kept for the handler (`callerOf`); a declared body over the limit is refused (413 / RESOURCE_EXHAUSTED). A body
 * sent without a length is counted as it is read, by the Connect handler's `readMaxBytes`.
 * A refused request's body is never kept: an HTTP/1.1 connection is half-closed after the answer
 * and closed a moment later (`Expect: 100-continue` clients are not invited to send the body);
 * an HTTP/2 stream is reset.
 */
export function gateRequests(handler: ApiHandler, options: GateOptions): ApiHandler {
  return (request, response) => {
    const proceed = (refusal: Refusal | undefined) => {
      if (refusal) {
        refuse(request, response, refusal, options.timers);
        return;
      }
      // The listener routes `Expect: 100-continue` here instead of letting Node invite the body at once.
      if (request.httpVersionMajor === 1 && /100-continue/i.test(String(request.headers.expect ?? ""))) {
        (response as ServerResponse).writeContinue();
      }
      handler(request, response);
    };
    const early = preCheck(request, options);
    if (early) return proceed(early);
    const identified = options.auth.identify(request.headers.authorization);
    if (!(identified instanceof Promise)) return proceed(afterIdentify(request, identified, options));
    // An ID token is verified against the provider's keys; the body waits unread meanwhile.
    identified.then(
      (result) => proceed(afterIdentify(request, result, options)),
      () => proceed(afterIdentify(request, { refused: "the ID token could not be verified" }, options)),
    );
  };
}

const callers = new WeakMap<object, ApiCaller>();

/** The caller the gate identified for a request it let through. */
export function callerOf(request: object): ApiCaller | undefined {
  return callers.get(request);
}

/** The failed-authentication budget, judged before any token is compared. */
function preCheck(request: ApiRequest, options: GateOptions): Refusal | undefined {
  const client = request.socket?.remoteAddress ?? "unknown";
  const waitMs = options.failures.retryAfterMs(client);
  if (waitMs > 0) {
    return {
      code: "resource_exhausted",
      grpcStatus: 8,
      httpStatus: 429,
      message: "too many failed authentications from this address; try again later",
      retryAfterSeconds: Math.ceil(waitMs / 1000),
    };
  }
  return undefined;
}

function afterIdentify(request: ApiRequest, identified: Identification, options: GateOptions): Refusal | undefined {
  if ("refused" in identified) {
    options.failures.recordFailure(request.socket?.remoteAddress ?? "unknown");
    return { code: "unauthenticated", grpcStatus: 16, httpStatus: 401, message: identified.refused };
  }
  if ("unavailable" in identified) {
    // The check could not be made (its backend is down): no failed authentication is counted.
    return { code: "unavailable", grpcStatus: 14, httpStatus: 503, message: identified.unavailable };
  }
  callers.set(request, identified.caller);
  const declared = request.headers["content-length"];
  const length = declared === undefined ? 0 : Number(declared);
  if (!(length <= options.maxBodyBytes)) {
    return {
      code: "resource_exhausted",
      grpcStatus: 8,
      httpStatus: 413,
      message: `the request body (${declared} bytes) is over the limit of ${options.maxBodyBytes} bytes (--api-max-body-bytes)`,
    };
  }
  return undefined;
}

function refuse(request: ApiRequest, response: ApiResponse, refusal: Refusal, timers: Timers): void {
  const http1 = request.httpVersionMajor === 1;
  const headers: Record<string, string> = {};
  if (refusal.retryAfterSeconds !== undefined) headers["retry-after"] = String(refusal.retryAfterSeconds);
  // Tells a session that could not be checked from a method's own UNAVAILABLE (Prometheus down, say):
  // the dashboard keeps its user signed in and waits (docs/ui.md).
  if (refusal.code === "unavailable") headers["gantry-auth"] = "unavailable";
  response.once("finish", () => {
    if (http1) {
      // HTTP/1.1 cannot skip a body: the connection ends. Node discards what arrives meanwhile.
      const socket = request.socket;
      socket.end();
      const linger = timers.setTimeout(() => socket.destroy(), refusedLingerMs);
      socket.once("close", () => linger.cancel());
    } else {
      const stream = (request as Http2ServerRequest).stream;
      // RST_STREAM(NO_ERROR): the answer is complete, the client should stop sending (RFC 9113 §8.1).
      if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
    }
  });
  const contentType = String(request.headers["content-type"] ?? "");
  if (grpcContentType.test(contentType)) {
    // gRPC and gRPC-Web: a trailers-only answer carries the status in its headers.
    (response as ServerResponse).writeHead(200, {
      ...headers,
      "content-type": contentType,
      "grpc-status": String(refusal.grpcStatus),
      "grpc-message": encodeURIComponent(refusal.message),
    });
    response.end();
    return;
  }
  (response as ServerResponse).writeHead(refusal.httpStatus, { ...headers, "content-type": "application/json" });
  response.end(JSON.stringify({ code: refusal.code, message: refusal.message }));
}
