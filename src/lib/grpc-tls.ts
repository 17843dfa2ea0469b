import { rootCertificates } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Timer, type Timers } from "./clock.js";
import type { Logger } from "./logger.js";
import { parseCertificates, parseKey, readPem, TlsFileError, type TlsFileWatch, type TlsMaterial } from "./tls.js";

// TLS for the grpc-js side (the ADS server and its clients). The server takes its certificates from a
// `TlsFileWatch`, and a client (ext-auth, rate limit fed by xDS) from its own watch of its files, both
// through grpc-js's certificate-provider credentials, so that a rotated certificate reaches new
// connections without a restart and established streams stay up.

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
  /** How often the files are read again for a rotated certificate or CA. Default 10 s. */
  reloadIntervalMs?: number;
}

interface ClientTlsFlags {
  ca: string;
  cert: string;
  key: string;
}

/** The files' contents; the CA is Node's default trust (defaultCas) when no file names one. */
interface ClientMaterial {
  readonly ca: Buffer;
  readonly identity: { readonly cert: Buffer; readonly key: Buffer } | undefined;
}

/**
 * What a client trusts without a CA file, as Node's default does: its bundled roots and the PEM file
 * NODE_EXTRA_CA_CERTS names (read again with the others, so it may rotate too).
 */
function defaultCas(): Buffer {
  const extra = process.env["NODE_EXTRA_CA_CERTS"];
  const bundled = Buffer.from(rootCertificates.join("\n"));
  return extra ? Buffer.concat([bundled, Buffer.from("\n"), readPem("NODE_EXTRA_CA_CERTS", extra)]) : bundled;
}

/** Reads and checks the files (each error names the flag and file, never a byte of the key). */
function loadClientMaterial(files: ClientTlsFiles, flags: ClientTlsFlags): ClientMaterial {
  const ca = files.caFile === undefined ? defaultCas() : readPem(flags.ca, files.caFile);
  if (files.caFile !== undefined) parseCertificates(flags.ca, files.caFile, ca);
  if (files.certFile === undefined || files.keyFile === undefined) return { ca, identity: undefined };
  const cert = readPem(flags.cert, files.certFile);
  const key = readPem(flags.key, files.keyFile);
  const [leaf] = parseCertificates(flags.cert, files.certFile, cert);
  if (!leaf?.checkPrivateKey(parseKey(flags.key, files.keyFile, key))) {
    throw new TlsFileError(flags.key, files.keyFile, `the key does not match the certificate in ${files.certFile}`);
  }
  return { ca, identity: { cert, key } };
}

function sameClientMaterial(a: ClientMaterial, b: ClientMaterial): boolean {
  const sameIdentity =
    a.identity === undefined || b.identity === undefined
      ? a.identity === b.identity
      : a.identity.cert.equals(b.identity.cert) && a.identity.key.equals(b.identity.key);
  return sameIdentity && a.ca.equals(b.ca);
}

/**
 * A client's CA and certificate for grpc-js, kept in step with their files as a server's are
 * (TlsFileWatch): read again every interval, taken when they change and check out whole, a bad
 * reading (a half-written rotation) logged once and skipped. New connections (a reconnect) use the
 * latest; an open stream keeps the connection it was made on.
 */
class WatchedClientCertificates implements grpc.experimental.CertificateProvider {
  readonly #files: ClientTlsFiles;
  readonly #flags: ClientTlsFlags;
  readonly #logger: Logger | undefined;
  readonly #identity = new Set<IdentityListener>();
  readonly #ca = new Set<CaListener>();
  readonly #timer: Timer;
  #current: ClientMaterial;
  #problem: string | undefined;

  constructor(files: ClientTlsFiles, flags: ClientTlsFlags, options: ClientTlsOptions) {
    this.#files = files;
    this.#flags = flags;
    this.#logger = options.logger;
    this.#current = loadClientMaterial(files, flags);
    const timers = options.timers ?? systemClock;
    this.#timer = timers.setInterval(() => this.check(), files.reloadIntervalMs ?? 10_000).unref();
  }

  get mutual(): boolean {
    return this.#current.identity !== undefined;
  }

  /** Reads the files once; true when new material was taken. */
  check(): boolean {
    let read: ClientMaterial;
    try {
      read = loadClientMaterial(this.#files, this.#flags);
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== this.#problem) {
        this.#problem = problem;
        this.#logger?.error(
          { err: problem },
          "new xDS client TLS files refused; new connections use the last good ones",
        );
      }
      return false;
    }
    this.#problem = undefined;
    if (sameClientMaterial(read, this.#current)) return false;
    this.#current = read;
    this.#logger?.info({ cert: this.#files.certFile, ca: this.#files.caFile }, "xDS client TLS files reloaded");
    for (const listener of this.#ca) listener({ caCertificate: read.ca });
    const identity = read.identity;
    if (identity)
      for (const listener of this.#identity) listener({ certificate: identity.cert, privateKey: identity.key });
    return true;
  }

  // As for the server's: grpc-js takes the current material a turn after adding its listener.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.add(listener);
    queueMicrotask(() => {
      const identity = this.#current.identity;
      if (identity && this.#identity.has(listener)) listener({ certificate: identity.cert, privateKey: identity.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#ca.add(listener);
    queueMicrotask(() => {
      if (this.#ca.has(listener)) listener({ caCertificate: this.#current.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
  }

  stop(): void {
    this.#timer.cancel();
  }
}

export interface ClientTlsOptions {
  /** Runs the reload interval. Default the system clock. */
  timers?: Timers;
  logger?: Logger;
}

/** Channel credentials that follow their files, and how to stop following them. */
export interface WatchedChannelCredentials {
  readonly credentials: grpc.ChannelCredentials;
  /** Reads the files now; true when new material was taken (the interval does the same). */
  check(): boolean;
  stop(): void;
}

/**
 * Channel credentials for `files`, read now (a bad file throws, naming the flag and file) and again
 * every `reloadIntervalMs`, so a rotated certificate or CA reaches the next connection without a
 * restart. The flags named in errors are the callers'.
 */
export function channelCredentials(
  files: ClientTlsFiles,
  flags: ClientTlsFlags = { ca: "--xds-ca-file", cert: "--xds-cert-file", key: "--xds-key-file" },
  options: ClientTlsOptions = {},
): WatchedChannelCredentials {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new Error(`${flags.cert} and ${flags.key} go together: give both or neither`);
  }
  const certificates = new WatchedClientCertificates(files, flags, options);
  return {
    credentials: grpc.experimental.createCertificateProviderChannelCredentials(
      certificates,
      certificates.mutual ? certificates : null,
    ),
    check: () => certificates.check(),
    stop: () => certificates.stop(),
  };
}
