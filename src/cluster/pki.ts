import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { relayServerName } from "./identity.js";
import type { IssuedCertificate } from "./records.js";
import type { StoredCa } from "./store.js";
import { caPinOf } from "./token.js";

/*
 * The relay's certificates, made and read with @peculiar/x509 (no hand-written ASN.1): the relay CA,
 * the relay port's server certificate, and the clusters' client certificates it signs from the
 * agents' certificate requests. Time is passed in, so that tests decide it.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type SigningAlgorithm = { name: string; namedCurve?: string; hash: string };

const ecdsaP256: SigningAlgorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A new ECDSA P-256 key pair, extractable (its private half is written to a file or a store). */
export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
}
/** Certificates are valid from a little before they are made, for agents whose clock is behind. */
const clockSkewMs = 5 * 60_000;

/** The relay CA, ready to sign. */
export interface RelayCa {
  readonly certPem: string;
  readonly certificate: x509.X509Certificate;
  /** sha256 of its SubjectPublicKeyInfo, hex: what tokens pin. */
  readonly pin: string;
  readonly signingKey: webcrypto.CryptoKey;
  readonly algorithm: SigningAlgorithm;
}

export async function exportPkcs8(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** 16 random bytes, positive and without a leading zero byte, so every tool spells it the same. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x10;
  return bytes.toString("hex");
}

/** A serial as the registry spells it: lower-case hex without leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, "");
}

/** A new self-signed relay CA (ECDSA P-256, ten years). */
export async function generateRelayCa(nowMs: number, trustDomain: string): Promise<StoredCa> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=Gantry relay CA, O=${trustDomain}`,
    notBefore: new Date(nowMs - clockSkewMs),
    notAfter: new Date(nowMs + 10 * 365 * 24 * 3600_000),
    keys,
    signingAlgorithm: ecdsaP256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certificate.toString("pem"), keyPem: await exportPkcs8(keys.privateKey) };
}

function signingAlgorithmOf(keyPem: string, where: string): SigningAlgorithm {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return ecdsaP256;
    if (curve === "secp384r1") return { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
    throw new Error(`${where}: EC curve ${curve ?? "unknown"} is not supported (P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  throw new Error(`${where}: a ${key.asymmetricKeyType ?? "unknown"} key is not supported (ECDSA or RSA)`);
}

/** Reads a stored or user-given CA; `where` names its source (flags, the Redis key) in errors. */
export async function loadRelayCa(stored: StoredCa, where: { cert: string; key: string }): Promise<RelayCa> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(stored.certPem);
  } catch {
    throw new Error(`${where.cert}: not a PEM X.509 certificate`);
  }
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new Error(`${where.cert}: not a CA certificate (basicConstraints CA:TRUE is missing)`);
  let algorithm: SigningAlgorithm;
  let keyDer: Buffer;
  try {
    algorithm = signingAlgorithmOf(stored.keyPem, where.key);
    keyDer = createPrivateKey(stored.keyPem).export({ type: "pkcs8", format: "der" });
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(where.key)) throw err;
    throw new Error(`${where.key}: not a PEM private key (an encrypted key is not supported)`);
  }
  const spki = Buffer.from(certificate.publicKey.rawData);
  const fromKey = createPublicKey(createPrivateKey(stored.keyPem)).export({ type: "spki", format: "der" });
  if (!spki.equals(fromKey)) throw new Error(`${where.key}: this key does not belong to the certificate ${where.cert}`);
  const { name, namedCurve } = algorithm;
  const signingKey = await webcrypto.subtle.importKey(
    "pkcs8",
    keyDer,
    namedCurve ? { name, namedCurve } : { name, hash: algorithm.hash },
    false,
    ["sign"],
  );
  return { certPem: certificate.toString("pem"), certificate, pin: caPinOf(spki), signingKey, algorithm };
}

export interface IssuedPem extends IssuedCertificate {
  readonly certPem: string;
}

async function issue(
  ca: RelayCa,
  publicKey: x509.PublicKey | webcrypto.CryptoKey,
  subject: string,
  nowMs: number,
  ttlMs: number,
  extensions: x509.Extension[],
): Promise<IssuedPem> {
  const serial = newSerial();
  const notBeforeMs = nowMs - clockSkewMs;
  const notAfterMs = Math.min(nowMs + ttlMs, ca.certificate.notAfter.getTime());
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: ca.certificate.subject,
    notBefore: new Date(notBeforeMs),
    notAfter: new Date(notAfterMs),
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      ...extensions,
    ],
  });
  // The certificate's own validity, in whole seconds as X.509 keeps it.
  return {
    certPem: certificate.toString("pem"),
    serial: normalizeSerial(certificate.serialNumber),
    notBeforeMs: certificate.notBefore.getTime(),
    notAfterMs: certificate.notAfter.getTime(),
  };
}

/** A key and certificate for the relay port; the chain holds the CA, so agents can check its pin before trusting it. */
export async function issueServerCertificate(
  ca: RelayCa,
  nowMs: number,
  ttlMs: number,
): Promise<IssuedPem & { chainPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const issued = await issue(ca, keys.publicKey, `CN=${relayServerName}`, nowMs, ttlMs, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: "dns", value: relayServerName }]),
  ]);
  return {
    ...issued,
    chainPem: `${issued.certPem.trim()}\n${ca.certPem.trim()}\n`,
    keyPem: await exportPkcs8(keys.privateKey),
  };
}

/** A certificate request checked: well-formed, self-signed by its key, an ECDSA P-256 key. Throws what is wrong. */
export async function checkCsr(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new Error("csr_pem: not a PEM PKCS#10 certificate request");
  }
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
    throw new Error("csr_pem: the key must be ECDSA P-256");
  }
  if (!(await csr.verify()))
    throw new Error("csr_pem: its signature does not verify (the request was not made with its key)");
  return csr;
}

/** A cluster's client certificate: identity as the URI SAN, `cluster/<name>` as the common name. */
export async function issueClusterCertificate(
  ca: RelayCa,
  csr: x509.Pkcs10CertificateRequest,
  cluster: string,
  identity: string,
  nowMs: number,
  ttlMs: number,
): Promise<IssuedPem> {
  return issue(ca, csr.publicKey, `CN=cluster/${cluster}`, nowMs, ttlMs, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }]),
  ]);
}

/** The URI SANs of a certificate (DER or PEM). */
export function uriNamesOf(certificate: x509.X509Certificate): string[] {
  const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  return names.filter((n) => n.type === "url").map((n) => n.value);
}

/** Whether `ca` signed `certificate`. */
export async function signedBy(certificate: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  return certificate.verify({ publicKey: ca.publicKey, signatureOnly: true });
}

/**
 * A key and serving certificate for the names and addresses its callers dial (the admission
 * webhook's, which the Kubernetes API server checks against the CA in the webhook's caBundle).
 */
export async function issueServingCertificate(
  ca: RelayCa,
  names: { dns: readonly string[]; ips: readonly string[] },
  nowMs: number,
  ttlMs: number,
): Promise<IssuedPem & { chainPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const issued = await issue(ca, keys.publicKey, `CN=${names.dns[0] ?? names.ips[0] ?? "gantry"}`, nowMs, ttlMs, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([
      ...names.dns.map((value) => ({ type: "dns" as const, value })),
      ...names.ips.map((value) => ({ type: "ip" as const, value })),
    ]),
  ]);
  return {
    ...issued,
    chainPem: `${issued.certPem.trim()}\n${ca.certPem.trim()}\n`,
    keyPem: await exportPkcs8(keys.privateKey),
  };
}
