import { type AddressInfo, createServer, type Socket } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { ErrorCode, goawayFrame, settingsFrame } from "./h2/frames.js";
import type { ServerLimits } from "./h2/server-limits.js";

// grpc-js has no bound on connections. A grpc-js server that needs one (xDS) listens through this
// instead: the socket is accepted here, counted against the server's cap, and handed to grpc-js (its
// connection injector) only when under it. A connection over the cap gets what the data-plane servers
// send in that case: SETTINGS and GOAWAY (NO_ERROR, last stream 0: nothing was processed), then close.

/** How long a refused connection may take to read its GOAWAY before the socket is dropped. */
const refusedGraceMs = 1_000;

export interface CappedListener {
  readonly port: number;
  /** Stops accepting; resolves once every connection accepted has closed. */
  close(): Promise<void>;
  /**
   * Destroys the connections still open. grpc-js's shutdown ends its sessions, but an injected socket
   * whose session it no longer tracks would otherwise hold `close()` (and the server's stop) forever.
   */
  destroyConnections(): void;
  /** Destroys the connection from `peer` ("address:port", as grpc-js's `getPeer()` names it); false if none. */
  destroyPeer(peer: string): boolean;
}

export async function listenWithConnectionCap(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  host: string,
  port: number,
  limits: ServerLimits,
): Promise<CappedListener> {
  const injector = server.createConnectionInjector(credentials);
  const open = new Set<Socket>();
  const byPeer = new Map<string, Socket>();
  const tcp = createServer((socket) => {
    if (!limits.admitConnection()) {
      refuse(socket);
      return;
    }
    open.add(socket);
    // grpc-js names a call's peer by its socket's remote address and port.
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    byPeer.set(peer, socket);
    socket.once("close", () => {
      open.delete(socket);
      if (byPeer.get(peer) === socket) byPeer.delete(peer);
      limits.releaseConnection();
    });
    injector.injectConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (err) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`)));
    tcp.listen(port, host, () => resolve());
  });
  return {
    port: (tcp.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => tcp.close(() => resolve())),
    destroyConnections: () => {
      for (const socket of open) socket.destroy();
    },
    destroyPeer: (peer) => {
      const socket = byPeer.get(peer);
      socket?.destroy();
      return socket !== undefined;
    },
  };
}

function refuse(socket: Socket): void {
  socket.on("error", () => socket.destroy());
  // What the client sends meanwhile is read and dropped: unread bytes at close would reset the connection
  // before the client has read the GOAWAY.
  socket.resume();
  socket.end(Buffer.concat([settingsFrame([]), goawayFrame(0, ErrorCode.NO_ERROR, "connection limit reached")]));
  setTimeout(() => socket.destroy(), refusedGraceMs).unref();
}
