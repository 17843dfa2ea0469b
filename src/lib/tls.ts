import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { createSecureContext, createServer, type Server, type TlsOptions } from "node:tls";
import { systemClock, type Timer, type Timers } from "./clock.js";
import type { Logger } from "./logger.js";

// TLS for the ports Gantry serves: the files are checked before any port opens (each error names the
// flag and the file, never a byte of the key), and watched afterwards, so that a rotated certificate
// reaches new connections while established ones keep the one they were made with.

/** The files of one TLS port, and the flags that named them (for errors). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates; given, every client must present one that it signed (mTLS). */
  clientCaFile?: string;
  /** The flags the files came from, named in errors. Default `--tls-cert-file` and so on. */
  flags?: { cert: string; key: string; clientCa: string };
  /** How often the files are read again for a rotated certificate. Default 10 s. */
  reloadIntervalMs?: number;
}

/** The files' contents, checked: a certificate chain, the key that matches its first certificate, and the client CAs. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

export class TlsFileError extends Error {
  constructor(flag: string, file: string, problem: string) {
    super(`${flag} ${file}: ${problem}`);
    this.name = "TlsFileError";
  }
}

const defaultFlags = { cert: "--tls-cert-file", key: "--tls-key-file", clientCa: "--tls-client-ca-file" };

export function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "not readable (permission denied)"
          : code === "EISDIR"
            ? "is a folder, not a file"
            : (err as Error).message;
    throw new TlsFileError(flag, file, problem);
  }
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM file, parsed; the errors say which one is bad. */
export function parseCertificates(flag: string, file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString("latin1").match(certificateBlock) ?? [];
  if (blocks.length === 0) throw new TlsFileError(flag, file, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new TlsFileError(flag, file, `certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
}

export function parseKey(flag: string, file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    // Node's message can quote the input; say what is wrong in our own words.
    throw new TlsFileError(flag, file, "not a PEM private key (an encrypted key is not supported)");
  }
}

/** Reads and checks the files of one TLS port; throws a `TlsFileError` naming the flag and file. */
export function loadTlsFiles(files: TlsFiles): TlsMaterial {
  const flags = files.flags ?? defaultFlags;
  const cert = readPem(flags.cert, files.certFile);
  const key = readPem(flags.key, files.keyFile);
  const clientCa = files.clientCaFile === undefined ? undefined : readPem(flags.clientCa, files.clientCaFile);
  return checkTlsMaterial(files, { cert, key, clientCa });
}

function checkTlsMaterial(files: TlsFiles, material: TlsMaterial): TlsMaterial {
  const flags = files.flags ?? defaultFlags;
  const [leaf] = parseCertificates(flags.cert, files.certFile, material.cert);
  const key = parseKey(flags.key, files.keyFile, material.key);
  if (!leaf?.checkPrivateKey(key)) {
    throw new TlsFileError(flags.key, files.keyFile, `the key does not match the certificate in ${files.certFile}`);
  }
  if (files.clientCaFile !== undefined && material.clientCa !== undefined) {
    parseCertificates(flags.clientCa, files.clientCaFile, material.clientCa);
  }
  try {
    createSecureContext({ cert: material.cert, key: material.key, ...caOption(material) });
  } catch (err) {
    // OpenSSL's reasons (key too small, unsupported algorithm) name no key material.
    throw new TlsFileError(flags.cert, files.certFile, `refused by OpenSSL: ${(err as Error).message}`);
  }
  return material;
}

function caOption(material: TlsMaterial): { ca?: Buffer } {
  return material.clientCa === undefined ? {} : { ca: material.clientCa };
}

/**
 * Options for a node:tls (or https, http2) server. With client CAs, a client without a certificate
 * that they signed fails the handshake.
 */
export function serverTlsOptions(material: TlsMaterial, alpn: string[]): TlsOptions {
  const mutual = material.clientCa !== undefined;
  return {
    cert: material.cert,
    key: material.key,
    ...caOption(material),
    requestCert: mutual,
    rejectUnauthorized: mutual,
    ALPNProtocols: alpn,
  };
}

/** Something to tell about a new, checked TLS material (a server's `setSecureContext`, a grpc-js provider). */
export type TlsMaterialListener = (material: TlsMaterial) => void;

export interface TlsFileWatchOptions {
  timers?: Timers;
  logger?: Logger;
}

/**
 * The TLS material of one port, kept in step with its files. Files are read again every interval
 * (polling survives the renames and symlink swaps that secret mounts and cert-manager use, where
 * file watches lose track); changed content is checked whole and handed to the listeners, and
 * content that fails the check (a half-written rotation, a key for another certificate) is logged
 * once and skipped: the port keeps serving the last good material.
 */
export class TlsFileWatch {
  readonly #files: TlsFiles;
  readonly #listeners = new Set<TlsMaterialListener>();
  readonly #logger: Logger | undefined;
  readonly #timer: Timer;
  #current: TlsMaterial;
  /** The last problem logged, so that each is logged once. */
  #problem: string | undefined;

  /** Loads the files now (throwing a `TlsFileError`), then watches them. */
  constructor(files: TlsFiles, options: TlsFileWatchOptions = {}) {
    this.#files = files;
    this.#logger = options.logger;
    this.#current = loadTlsFiles(files);
    const timers = options.timers ?? systemClock;
    this.#timer = timers.setInterval(() => this.check(), files.reloadIntervalMs ?? 10_000).unref();
  }

  get current(): TlsMaterial {
    return this.#current;
  }

  /** Calls `listener` with every new material from now on. */
  onChange(listener: TlsMaterialListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads the files once; returns true when new material was taken. */
  check(): boolean {
    const flags = this.#files.flags ?? defaultFlags;
    let checked: TlsMaterial;
    try {
      const read: TlsMaterial = {
        cert: readPem(flags.cert, this.#files.certFile),
        key: readPem(flags.key, this.#files.keyFile),
        clientCa:
          this.#files.clientCaFile === undefined ? undefined : readPem(flags.clientCa, this.#files.clientCaFile),
      };
      if (sameMaterial(read, this.#current)) {
        this.#problem = undefined;
        return false;
      }
      checked = checkTlsMaterial(this.#files, read);
    } catch (err) {
      this.#report((err as Error).message);
      return false;
    }
    this.#current = checked;
    this.#problem = undefined;
    this.#logger?.info({ cert: this.#files.certFile }, "TLS certificate reloaded");
    for (const listener of this.#listeners) listener(checked);
    return true;
  }

  stop(): void {
    this.#timer.cancel();
    this.#listeners.clear();
  }

  /** Logs a problem once, not at every interval while it lasts. */
  #report(problem: string): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    this.#logger?.error({ err: problem }, "new TLS files refused; the port keeps serving the last good certificate");
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const sameCa =
    a.clientCa === undefined || b.clientCa === undefined ? a.clientCa === b.clientCa : a.clientCa.equals(b.clientCa);
  return sameCa && a.cert.equals(b.cert) && a.key.equals(b.key);
}

/** How long a TLS port waits for a client's handshake to finish, unless told otherwise. */
export const defaultHandshakeTimeoutMs = 10_000;

/**
 * A node:tls server for one port that hands each socket, once its handshake is done, to the same
 * code a plaintext port uses (a TLSSocket is a Socket); rotated files reach new handshakes through
 * `setSecureContext`, and established connections keep theirs. Stopping the watch is the caller's.
 * A client that connects and never finishes its handshake holds a socket: it is closed after
 * `handshakeTimeoutMs` (default 10 s), not Node's 120 s.
 */
export function createTlsServer(
  watch: TlsFileWatch,
  alpn: string[],
  onSocket: (socket: Socket) => void,
  logger?: Logger,
  handshakeTimeoutMs = defaultHandshakeTimeoutMs,
): Server {
  const server = createServer(
    { ...serverTlsOptions(watch.current, alpn), handshakeTimeout: handshakeTimeoutMs },
    onSocket,
  );
  watch.onChange((material) =>
    server.setSecureContext({ cert: material.cert, key: material.key, ...caOption(material) }),
  );
  // A failed handshake (no client certificate, an untrusted one, plaintext on a TLS port) costs only its socket.
  // With a listener here, Node leaves the socket open (the handshake timeout included): closed here.
  server.on("tlsClientError", (err, socket) => {
    logger?.debug({ err: err.message, peer: `${socket.remoteAddress}:${socket.remotePort}` }, "TLS handshake failed");
    socket.destroy();
  });
  return server;
}
