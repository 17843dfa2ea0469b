// The HTTPS port the API server calls for admission reviews (`--admission-port`). One POST per
// review; a bad body is answered 400 and never stops the server; a body over the limit is refused
// before it is read whole.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "../lib/logger.js";
import { type AdmissionReview, BadReview, reviewAdmission } from "./admission.js";

export interface AdmissionServerOptions {
  host: string;
  port: number;
  /** The serving certificate chain and key (PEM); the API server checks it against the webhook's caBundle. */
  certPem: string;
  keyPem: string;
  logger: Logger;
  /** Largest review body; the API server sends at most about 3 MiB objects. Default 6 MiB. */
  maxBodyBytes?: number;
}

export interface AdmissionServer {
  readonly port: number;
  /** Serves a new certificate from the next TLS handshake on (a rotation; open connections keep theirs). */
  setCertificate(certPem: string, keyPem: string): void;
  close(): Promise<void>;
}

/** The path the webhook configuration's clientConfig names. */
export const admissionPath = "/validate";

export async function startAdmissionServer(options: AdmissionServerOptions): Promise<AdmissionServer> {
  const maxBodyBytes = options.maxBodyBytes ?? 6 * 1024 * 1024;
  const server: Server = createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    const reply = (code: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== "POST" || req.url?.split("?")[0] !== admissionPath) {
      reply(404, { message: `POST ${admissionPath} with an AdmissionReview` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reply(413, { message: `the review is over ${maxBodyBytes} bytes` });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      try {
        const answer = reviewAdmission(JSON.parse(Buffer.concat(chunks).toString("utf8")) as AdmissionReview);
        if (!answer.response.allowed) {
          options.logger.info({ uid: answer.response.uid, why: answer.response.status?.message }, "admission: refused");
        }
        reply(200, answer);
      } catch (err) {
        const message = err instanceof BadReview || err instanceof SyntaxError ? err.message : "internal error";
        if (!(err instanceof BadReview || err instanceof SyntaxError))
          options.logger.error({ err }, "admission: failed");
        reply(err instanceof BadReview || err instanceof SyntaxError ? 400 : 500, { message });
      }
    });
    req.on("error", () => res.destroy());
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate: (certPem, keyPem) => server.setSecureContext({ cert: certPem, key: keyPem }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
