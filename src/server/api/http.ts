import { once } from "node:events";
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { createTlsServer, type TlsFileWatch } from "../../lib/tls.js";

type Handler = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => void;

export interface ApiListener {
  readonly port: number;
  close(): Promise<void>;
}

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * Serves one handler on one port to both HTTP/1.1 (Connect JSON from curl, browsers and the CLI) and
 * HTTP/2 (gRPC and Connect). On a plaintext port the first bytes of each connection tell which
 * (HTTP/2 with prior knowledge opens with a fixed preface); with `tls`, ALPN does (h2, else HTTP/1.1).
 */
export async function listenHttp(
  handler: Handler,
  host: string,
  port: number,
  tls?: TlsFileWatch,
): Promise<ApiListener> {
  const http1 = createHttp1Server(handler as (req: IncomingMessage, res: ServerResponse) => void);
  const http2 = createHttp2Server(handler as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  const sockets = new Set<Socket>();
  const sniffed = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Read until the bytes either diverge from the HTTP/2 preface or complete it ("P" alone could be "POST").
    let head = Buffer.alloc(0);
    const sniff = () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        head = Buffer.concat([head, chunk]);
      }
      const compared = Math.min(head.length, http2Preface.length);
      const matches = head.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      if (matches && head.length < http2Preface.length) return; // undecided: wait for more
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
  const tcp = tls ? createTlsServer(tls, ["h2", "http/1.1"], negotiated) : createTcpServer(sniffed);
  tcp.listen(port, host);
  await once(tcp, "listening");
  return {
    port: (tcp.address() as AddressInfo).port,
    close: async () => {
      tls?.stop();
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      http1.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
