import { webcrypto } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import { RegistrationService } from "../gen/gantry/relay/v1/registration_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import { createClient } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import { clusterIdentity, clusterOfIdentity, relayServerName } from "./identity.js";
import { exportPkcs8, generateKeyPair, normalizeSerial, signedBy, uriNamesOf } from "./pki.js";
import type { IssuedCertificate } from "./records.js";

/*
 * The agent's side of the relay's PKI: its cluster certificate and key in its data dir, the grpc-js
 * credentials made from them (which follow a rotation: new connections take the new certificate,
 * open ones keep theirs), and the rotation itself at two thirds of the certificate's lifetime.
 *
 * Files in the data dir, written whole (a temporary file renamed), mode 0600:
 *   cluster-identity.pem   the certificate, then its private key (one file, so a rotation can
 *                          never leave a key beside another key's certificate)
 *   relay-ca.pem           the relay CA the registration token pinned
 */

export const identityFile = "cluster-identity.pem";
export const relayCaFile = "relay-ca.pem";

/** grpc-js options every relay channel needs: the relay's certificates name `gantry-relay`, whatever address it is dialled at. */
export const relayChannelOptions: grpc.ChannelOptions = { "grpc.ssl_target_name_override": relayServerName };

/** The relay's certificate must name `gantry-relay` and be for a server (the CA also signs clusters' client certificates). */
export function checkRelayIdentity(_host: string, certificate: PeerCertificate): Error | undefined {
  const problem = checkServerIdentity(relayServerName, certificate);
  if (problem) return problem;
  const serverAuth = "1.3.6.1.5.5.7.3.1";
  if (!certificate.ext_key_usage?.includes(serverAuth)) {
    return new Error("the relay's certificate is not a server certificate (extendedKeyUsage serverAuth)");
  }
  return undefined;
}

/** Writes `text` to `file` whole, readable by the owner only. */
export function writePrivateFile(file: string, text: string): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\s*/;
const keyBlock = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\s*/;

/** A certificate granted to the agent, checked against what it asked for; throws what is wrong. */
export async function checkGrant(
  grant: { certificatePem: string; caPem: string },
  expected: { cluster: string; publicKey: webcrypto.CryptoKey; ca: x509.X509Certificate },
): Promise<x509.X509Certificate> {
  const certificate = new x509.X509Certificate(grant.certificatePem);
  if (!(await signedBy(certificate, expected.ca)))
    throw new Error("the granted certificate is not signed by the relay CA");
  const granted = Buffer.from(certificate.publicKey.rawData);
  const ours = Buffer.from(await webcrypto.subtle.exportKey("spki", expected.publicKey));
  if (!granted.equals(ours)) throw new Error("the granted certificate is not for the key this agent made");
  const identity = uriNamesOf(certificate)[0] ?? "";
  if (!identity.endsWith(`/cluster/${expected.cluster}`)) {
    throw new Error(`the granted certificate names "${identity}", not cluster ${expected.cluster}`);
  }
  return certificate;
}

/** A new key pair and a certificate request for it. */
export async function newCertificateRequest(
  cluster: string,
): Promise<{ keys: webcrypto.CryptoKeyPair; csrPem: string }> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=cluster/${cluster}`,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return { keys, csrPem: csr.toString("pem") };
}

/** Stores a granted certificate and its key (and the CA) in `dataDir`. */
export async function saveIdentity(
  dataDir: string,
  certificatePem: string,
  privateKey: webcrypto.CryptoKey,
  caPem?: string,
): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (caPem !== undefined) writePrivateFile(join(dataDir, relayCaFile), caPem);
  writePrivateFile(
    join(dataDir, identityFile),
    `${certificatePem.trim()}\n${(await exportPkcs8(privateKey)).trim()}\n`,
  );
}

interface Material {
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly certificate: x509.X509Certificate;
}

function readMaterial(dataDir: string): Material {
  const file = join(dataDir, identityFile);
  const text = readFileSync(file, "utf8");
  const certificatePem = certificateBlock.exec(text)?.[0];
  const keyPem = keyBlock.exec(text)?.[0];
  if (!certificatePem || !keyPem) throw new Error(`${file}: expected a PEM certificate and a PEM private key`);
  return { certificatePem, keyPem, certificate: new x509.X509Certificate(certificatePem) };
}

export interface RotationOptions {
  /** The relay, HOST:PORT. */
  relay: string;
  timers?: Timers;
  logger?: Logger;
  /** Told after each rotation, with the new certificate. */
  onRotated?: (certificate: IssuedCertificate) => void;
  /** A failed rotation is tried again after this. Default 30 s. */
  retryMs?: number;
}

/**
 * An enrolled agent's credentials. `channelCredentials` is what the relay channel dials with; a
 * rotation replaces the certificate under it, for new connections only.
 */
export class AgentCredentials {
  readonly cluster: string;
  readonly identity: string;
  readonly caPem: string;
  readonly #dataDir: string;
  readonly #ca: x509.X509Certificate;
  #material: Material;
  readonly #identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  #credentials: grpc.ChannelCredentials | undefined;

  private constructor(dataDir: string, caPem: string, material: Material, cluster: string, identity: string) {
    this.#dataDir = dataDir;
    this.caPem = caPem;
    this.#ca = new x509.X509Certificate(caPem);
    this.#material = material;
    this.cluster = cluster;
    this.identity = identity;
  }

  /**
   * The credentials in `dataDir`, or undefined if it holds none. Throws, naming the file, when they
   * are unreadable or not `cluster`'s.
   */
  static load(dataDir: string, cluster?: string): AgentCredentials | undefined {
    let caPem: string;
    try {
      caPem = readFileSync(join(dataDir, relayCaFile), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`${join(dataDir, relayCaFile)}: ${(err as Error).message}`);
    }
    const material = readMaterial(dataDir);
    const identity = uriNamesOf(material.certificate)[0] ?? "";
    const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(identity)?.[1] ?? "";
    const named = clusterOfIdentity(trustDomain, identity);
    if (named === undefined) throw new Error(`${join(dataDir, identityFile)}: "${identity}" is not a cluster identity`);
    if (cluster !== undefined && named !== cluster) {
      throw new Error(
        `${join(dataDir, identityFile)}: the data dir holds cluster ${named}'s certificate, not cluster ${cluster}'s`,
      );
    }
    return new AgentCredentials(dataDir, caPem, material, named, clusterIdentity(trustDomain, named));
  }

  get certificate(): IssuedCertificate {
    const c = this.#material.certificate;
    return {
      serial: normalizeSerial(c.serialNumber),
      notBeforeMs: c.notBefore.getTime(),
      notAfterMs: c.notAfter.getTime(),
    };
  }

  /** mTLS credentials for the relay, following rotations; dial with `relayChannelOptions`. */
  channelCredentials(): grpc.ChannelCredentials {
    this.#credentials ??= grpc.experimental.createCertificateProviderChannelCredentials(
      {
        addCaCertificateListener: (listener) => listener({ caCertificate: Buffer.from(this.caPem) }),
        removeCaCertificateListener: () => {},
        addIdentityCertificateListener: () => {},
        removeIdentityCertificateListener: () => {},
      },
      {
        addCaCertificateListener: () => {},
        removeCaCertificateListener: () => {},
        addIdentityCertificateListener: (listener) => {
          this.#identityListeners.add(listener);
          listener(this.#identityUpdate());
        },
        removeIdentityCertificateListener: (listener) => this.#identityListeners.delete(listener),
      },
      { checkServerIdentity: checkRelayIdentity },
    );
    return this.#credentials;
  }

  /** When to rotate: two thirds into the certificate's lifetime. */
  get rotateAtMs(): number {
    const { notBeforeMs, notAfterMs } = this.certificate;
    return notBeforeMs + ((notAfterMs - notBeforeMs) * 2) / 3;
  }

  /** Asks the relay for a certificate on a new key, stores it, and hands it to new connections. */
  async rotate(relay: string, timeoutMs = 10_000): Promise<IssuedCertificate> {
    const { keys, csrPem } = await newCertificateRequest(this.cluster);
    const client = createClient(RegistrationService, relay, {
      credentials: this.channelCredentials(),
      channelOptions: relayChannelOptions,
    });
    try {
      const answer = await client.rotate({ cluster: this.cluster, csrPem }, { timeoutMs });
      await checkGrant(answer, { cluster: this.cluster, publicKey: keys.publicKey, ca: this.#ca });
      await saveIdentity(this.#dataDir, answer.certificatePem, keys.privateKey);
    } finally {
      client.close();
    }
    this.#material = readMaterial(this.#dataDir);
    const update = this.#identityUpdate();
    for (const listener of this.#identityListeners) listener(update);
    return this.certificate;
  }

  /** Rotates at two thirds of each certificate's lifetime until the returned function is called. */
  keepRotated(options: RotationOptions): () => void {
    const timers = options.timers ?? systemClock;
    let timer: Timer | undefined;
    let stopped = false;
    const schedule = (inMs: number) => {
      if (!stopped) timer = timers.setTimeout(run, Math.max(0, inMs)).unref();
    };
    const run = () => {
      this.rotate(options.relay).then(
        (certificate) => {
          options.logger?.info({ cluster: this.cluster, serial: certificate.serial }, "cluster certificate rotated");
          options.onRotated?.(certificate);
          schedule(this.rotateAtMs - timers.now());
        },
        (err: unknown) => {
          options.logger?.warn({ err, cluster: this.cluster }, "certificate rotation failed; trying again");
          schedule(options.retryMs ?? 30_000);
        },
      );
    };
    schedule(this.rotateAtMs - timers.now());
    return () => {
      stopped = true;
      timer?.cancel();
    };
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return {
      certificate: Buffer.from(this.#material.certificatePem),
      privateKey: Buffer.from(this.#material.keyPem),
    };
  }
}

/** The enrolled credentials in `dataDir`; throws if the agent has not enrolled there. */
export function loadAgentCredentials(dataDir: string, cluster?: string): AgentCredentials {
  const credentials = AgentCredentials.load(dataDir, cluster);
  if (!credentials) {
    throw new Error(
      `--data-dir ${dataDir}: no cluster certificate (${relayCaFile} is missing): enroll with --token-file first`,
    );
  }
  return credentials;
}
