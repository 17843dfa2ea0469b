import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { TlsFileWatch, TlsMaterial } from "./tls.js";

// TLS for the grpc-js side (the ADS server and its clients). The server takes its certificates from a
// `TlsFileWatch`, through grpc-js's certificate-provider credentials, so that a rotated certificate
// reaches new connections without a restart and established streams stay up.

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/** Feeds grpc-js the material a `TlsFileWatch` holds now and every new one it takes. */
class WatchedCertificates implements grpc.experimental.CertificateProvider {
  readonly #watch: TlsFileWatch;
  readonly #identity = new Set<IdentityListener>();
  readonly #ca = new Set<CaListener>();

  constructor(watch: TlsFileWatch) {
    this.#watch = watch;
    watch.onChange((material) => this.#publish(material));
  }

  // grpc-js registers its own watcher only after adding ours: the current material is handed over a
  // turn later, or it would reach no one and the port would refuse every connection.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.add(listener);
    queueMicrotask(() => {
      const { cert, key } = this.#watch.current;
      if (this.#identity.has(listener)) listener({ certificate: cert, privateKey: key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#ca.add(listener);
    queueMicrotask(() => {
      const ca = this.#watch.current.clientCa;
      if (ca && this.#ca.has(listener)) listener({ caCertificate: ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
  }

  #publish(material: TlsMaterial): void {
    for (const listener of this.#identity) listener({ certificate: material.cert, privateKey: material.key });
    const ca = material.clientCa;
    if (ca) for (const listener of this.#ca) listener({ caCertificate: ca });
  }
}

/** Server credentials that follow `watch`; with client CAs, every client must present a certificate they signed. */
export function serverCredentials(watch: TlsFileWatch): grpc.ServerCredentials {
  const certificates = new WatchedCertificates(watch);
  const mutual = watch.current.clientCa !== undefined;
  return grpc.experimental.createCertificateProviderServerCredentials(
    certificates,
    mutual ? certificates : null,
    mutual,
  );
}

/** What a gRPC client needs to reach a TLS server: the CA to trust and, for mTLS, its own certificate. */
export interface ClientTlsFiles {
  /** CA bundle that signed the server's certificate; default the system's CAs. */
  caFile?: string;
  /** This client's certificate and key, for a server that requires client certificates. */
  certFile?: string;
  keyFile?: string;
}

function readNamed(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
}

/** Channel credentials for `files`; the flags named in errors are the callers'. */
export function channelCredentials(
  files: ClientTlsFiles,
  flags = { ca: "--xds-ca-file", cert: "--xds-cert-file", key: "--xds-key-file" },
): grpc.ChannelCredentials {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new Error(`${flags.cert} and ${flags.key} go together: give both or neither`);
  }
  const ca = files.caFile === undefined ? null : readNamed(flags.ca, files.caFile);
  const key = files.keyFile === undefined ? null : readNamed(flags.key, files.keyFile);
  const cert = files.certFile === undefined ? null : readNamed(flags.cert, files.certFile);
  return grpc.credentials.createSsl(ca, key, cert);
}
