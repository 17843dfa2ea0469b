import { X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";

/** One side's TLS material, PEM. */
export interface TlsSide {
  cert?: string;
  key?: string;
  /** The roots this side trusts. */
  ca: string;
}

export type Handshake = { ok: true; serverSawClient: string; clientSawServer: string } | { ok: false; error: string };

function uriOf(certificate: tls.PeerCertificate | undefined): string {
  return /URI:([^,\s]+)/.exec(certificate?.subjectaltname ?? "")?.[1] ?? "";
}

/**
 * A real mTLS handshake on 127.0.0.1 with node:tls: both sides verify the other's chain against
 * their roots; the client checks the server's SPIFFE ID instead of a host name. Resolves once the
 * server has answered (so a client certificate refused after a TLS 1.3 handshake counts as refused).
 */
export async function handshake(server: TlsSide, client: TlsSide, expectServerId?: string): Promise<Handshake> {
  let serverSawClient = "";
  const listener = tls.createServer(
    { cert: server.cert, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true },
    (socket) => {
      serverSawClient = uriOf(socket.getPeerCertificate());
      socket.end("ok\n");
    },
  );
  let serverError = "";
  listener.on("tlsClientError", (err) => {
    serverError = err.message;
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as AddressInfo;
  try {
    return await new Promise<Handshake>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: "no answer within 5 s" }), 5_000);
      const socket = tls.connect({
        host: "127.0.0.1",
        port,
        ...(client.cert ? { cert: client.cert, key: client.key } : {}),
        ca: client.ca,
        checkServerIdentity: (_host, certificate) =>
          expectServerId === undefined || uriOf(certificate) === expectServerId
            ? undefined
            : new Error(`the server is ${uriOf(certificate)}, not ${expectServerId}`),
      });
      let received = "";
      let clientSawServer = "";
      socket.on("secureConnect", () => {
        clientSawServer = uriOf(socket.getPeerCertificate());
      });
      socket.on("data", (data) => {
        received += data.toString();
      });
      const finish = (error?: Error) => {
        clearTimeout(timer);
        socket.destroy();
        if (received.startsWith("ok")) resolve({ ok: true, serverSawClient, clientSawServer });
        else resolve({ ok: false, error: error?.message || serverError || "closed without an answer" });
      };
      socket.on("error", finish);
      socket.on("close", () => finish());
    });
  } finally {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}

export const blocks = (pem: string) =>
  pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];

/** Whether the first certificate of `chainPem` chains, through the rest, to one of `rootsPem`. */
export function chainsTo(chainPem: string, rootsPem: string): boolean {
  const chain = blocks(chainPem).map((p) => new X509Certificate(p));
  const roots = blocks(rootsPem).map((p) => new X509Certificate(p));
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    if (roots.some((r) => cert.checkIssued(r) && cert.verify(r.publicKey))) return true;
    const parent = chain[i + 1];
    if (!parent || !cert.verify(parent.publicKey)) return false;
  }
  return false;
}
