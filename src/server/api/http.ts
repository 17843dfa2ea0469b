import { once } from "node:events";
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { systemClock, type Timer, type Timers } from "../../lib/clock.js";
import { createTlsServer, type TlsFileWatch } from "../../lib/tls.js";
import type { ApiHandler } from "./gate.js";
import type { ApiLimits } from "./limits.js";

export interface ApiListener {
  readonly port: number;
  close(): Promise<void>;
}

/** The limits that concern connections (the body limit and authentication are the gate's). */
export type ConnectionLimits = Pick<
  ApiLimits,
  "headersTimeoutMs" | "requestTimeoutMs" | "idleTimeoutMs" | "maxConnections"
>;

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n");

/** Calls in flight on one HTTP/2 connection (each Watch is one). */
export const maxStreamsPerConnection = 100;

/**
 * Serves one handler on one port to both HTTP/1.1 (Connect JSON from curl, browsers and the CLI) and
 * HTTP/2 (gRPC and Connect). On a plaintext port the first bytes of each connection tell which
 * (HTTP/2 with prior knowledge opens with a fixed preface); with `tls`, ALPN does (h2, else HTTP/1.1).
 *
 * Every connection is bounded in time: it must finish its headers within `headersTimeoutMs`
 * (the preface sniffing included; with TLS, the handshake too, within as long again) and each request's body within `requestTimeoutMs`, and it is
 * closed after `idleTimeoutMs` with no request in flight (a Watch stream is in flight). At most
 * `maxConnections` are open at once; the kernel's accept queue holds the rest briefly and Node
 * closes any accepted beyond the cap.
 */
export async function listenHttp(
  handler: ApiHandler,
  host: string,
  port: number,
  limits: ConnectionLimits,
  timers: Timers = systemClock,
  tls?: TlsFileWatch,
): Promise<ApiListener> {
  const http1 = createHttp1Server(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // Node checks the two timeouts above on this period (30 s by default, too coarse for them).
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(limits.headersTimeoutMs / 4))),
    },
    handler as (req: IncomingMessage, res: ServerResponse) => void,
  );
  // Answered by the handler, which invites the body only once the headers pass (see gate.ts).
  http1.on("checkContinue", handler as (req: IncomingMessage, res: ServerResponse) => void);
  // This server never listens itself (it is handed sockets), but Node starts the sweep that
  // enforces the headers and request timeouts on "listening"; without it they never fire.
  http1.emit("listening");
  const http2 = createHttp2Server(
    // Node's default is no limit: one connection could open streams without end.
    { settings: { maxConcurrentStreams: maxStreamsPerConnection } },
    handler as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  );
  http2.on("session", (session: Http2Session) => boundSession(session, limits, timers));
  const sockets = new Set<Socket>();
  const sniffed = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // A connection that never says which protocol it speaks is one of its headers being late.
    const late = timers.setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    socket.once("close", () => late.cancel());
    // Read until the bytes either diverge from the HTTP/2 preface or complete it ("P" alone could be "POST").
    let head = Buffer.alloc(0);
    const sniff = () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        head = Buffer.concat([head, chunk]);
      }
      const compared = Math.min(head.length, http2Preface.length);
      const matches = head.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      if (matches && head.length < http2Preface.length) return; // undecided: wait for more
      late.cancel();
      socket.off("readable", sniff);
      socket.unshift(head);
      (matches ? http2 : http1).emit("connection", socket);
    };
    socket.on("readable", sniff);
  };
  // node:http2 takes a TLS socket whose ALPN said h2 as it takes a plaintext one.
  const negotiated = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    ((socket as TLSSocket).alpnProtocol === "h2" ? http2 : http1).emit("connection", socket);
  };
  // The TLS handshake comes before the headers and is bounded the same: a client that stops half-way
  // through it holds a socket as one that stops half-way through its headers does.
  const tcp = tls
    ? createTlsServer(tls, ["h2", "http/1.1"], negotiated, undefined, limits.headersTimeoutMs)
    : createTcpServer(sniffed);
  tcp.maxConnections = limits.maxConnections;
  tcp.listen(port, host);
  await once(tcp, "listening");
  return {
    port: (tcp.address() as AddressInfo).port,
    close: async () => {
      tls?.stop();
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      http1.close(); // stops that sweep
      http1.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/**
 * HTTP/2 has no Node-side equivalent of HTTP/1.1's header, request and keep-alive timeouts, so a
 * session gets them here: a stream whose request has not ended within `requestTimeoutMs` is
 * reset, and a session with no stream open for `idleTimeoutMs` is closed (GOAWAY). A session that
 * opens no stream at all after its preface is idle from the start.
 */
function boundSession(session: Http2Session, limits: ConnectionLimits, timers: Timers): void {
  let open = 0;
  let idle: Timer | undefined;
  const startIdle = () => {
    idle = timers.setTimeout(() => session.close(), limits.idleTimeoutMs);
  };
  startIdle();
  session.on("stream", (stream: ServerHttp2Stream) => {
    open += 1;
    idle?.cancel();
    idle = undefined;
    const late = timers.setTimeout(() => {
      if (!stream.destroyed) stream.close(0x8 /* CANCEL */);
    }, limits.requestTimeoutMs);
    // Complete once the client ended its side; a response may stream on (Watch).
    stream.once("end", () => late.cancel());
    stream.once("close", () => {
      late.cancel();
      open -= 1;
      if (open === 0 && !session.closed && !session.destroyed) startIdle();
    });
  });
  session.once("close", () => idle?.cancel());
}
