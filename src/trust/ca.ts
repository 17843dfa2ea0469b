import type { webcrypto } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  id_ce_nameConstraints,
  NameConstraints,
} from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { clusterIdentity } from "../cluster/identity.js";
import { exportPkcs8, generateKeyPair, loadRelayCa, newSerial, type RelayCa } from "../cluster/pki.js";

/*
 * The trust chain's certificates, made with @peculiar/x509 (and its ASN.1 schemas for the one
 * extension it has no class for): the root, the per-cluster intermediates it signs from agents'
 * requests, and the workload certificates the intermediates sign. Time is passed in.
 */

/** A CA ready to sign: its key, its certificate, and the certificates above it up to (not including) the root. */
export interface SigningCa extends RelayCa {
  /** This CA and the CAs above it up to, not including, the root, PEM (empty for a root). */
  readonly chainPem: readonly string[];
  /** The self-signed root this CA chains to, PEM. */
  readonly rootPem: string;
}

const year = 365 * 24 * 3600_000;
/** Certificates are valid from a little before they are made, for peers whose clock is behind. */
const backdateMs = 60_000;

export function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

/** A new self-signed root (ECDSA P-256, ten years); its name carries when it was made, so two roots never share one. */
export async function generateRoot(nowMs: number, trustDomain: string): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=Gantry root CA ${new Date(nowMs).toISOString()}, O=${trustDomain}`,
    notBefore: new Date(nowMs - backdateMs),
    notAfter: new Date(nowMs + 10 * year),
    keys,
    signingAlgorithm: { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certificate.toString("pem"), keyPem: await exportPkcs8(keys.privateKey) };
}

/**
 * `rootPem` signed by the root before it (`previous`): the same name and key, so a peer that holds
 * only the old root still verifies certificates of the new one through it during a root rotation,
 * while a peer that holds the new root ends the chain at it.
 */
export async function crossSign(previous: RelayCa, rootPem: string, nowMs: number): Promise<string> {
  const root = new x509.X509Certificate(rootPem);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: root.subject,
    issuer: previous.certificate.subject,
    notBefore: new Date(nowMs - backdateMs),
    notAfter: new Date(Math.min(root.notAfter.getTime(), previous.certificate.notAfter.getTime())),
    publicKey: root.publicKey,
    signingKey: previous.signingKey,
    signingAlgorithm: previous.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(root.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(previous.certificate),
    ],
  });
  return certificate.toString("pem");
}

/**
 * A CA to sign with: `certPem` holds its certificate first, then the certificates above it up to a
 * self-signed root (a root alone is its own chain). Checked: each signs the one below, the top is
 * self-signed, the CA may have a CA beneath it (path length), the key is the certificate's. Errors
 * name `where.cert` or `where.key`.
 */
export async function loadSigningCa(
  certPem: string,
  keyPem: string,
  where: { cert: string; key: string },
): Promise<SigningCa> {
  const blocks = pemBlocks(certPem);
  if (blocks.length === 0) throw new Error(`${where.cert}: no PEM certificate in it`);
  const ca = await loadRelayCa({ certPem: blocks[0] as string, keyPem }, where);
  let certificates: x509.X509Certificate[];
  try {
    certificates = blocks.map((b) => new x509.X509Certificate(b));
  } catch {
    throw new Error(`${where.cert}: a certificate in it is not valid X.509`);
  }
  for (let i = 0; i + 1 < certificates.length; i++) {
    const child = certificates[i] as x509.X509Certificate;
    const parent = certificates[i + 1] as x509.X509Certificate;
    if (!(await child.verify({ publicKey: parent.publicKey, signatureOnly: true }))) {
      throw new Error(
        `${where.cert}: certificate ${i + 1} (${child.subject}) is not signed by the next one (${parent.subject})`,
      );
    }
  }
  const top = certificates.at(-1) as x509.X509Certificate;
  if (!(await top.isSelfSigned())) {
    throw new Error(
      `${where.cert}: the chain ends at "${top.subject}", which is not self-signed: append the certificates up to your root`,
    );
  }
  const pathLength = ca.certificate.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (pathLength !== undefined && pathLength < 1) {
    throw new Error(
      `${where.cert}: its path length constraint is ${pathLength}: Gantry signs a CA per cluster beneath it, so it needs 1 or more (or none)`,
    );
  }
  return { ...ca, chainPem: blocks.slice(0, -1), rootPem: blocks.at(-1) as string };
}

/**
 * Name constraints: every name the CA signs must be a URI in `trustDomain` (RFC 5280 matches a URI
 * constraint against the URI's host, which is the trust domain of a SPIFFE ID).
 */
function trustDomainConstraint(trustDomain: string): x509.Extension {
  const value = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees([
      new GeneralSubtree({ base: new GeneralName({ uniformResourceIdentifier: trustDomain }) }),
    ]),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

/** A cluster's intermediate CA: path length 0, names constrained to the trust domain, the cluster's identity as URI SAN. */
export async function signIntermediate(
  ca: SigningCa,
  csr: x509.Pkcs10CertificateRequest,
  cluster: string,
  trustDomain: string,
  nowMs: number,
  ttlMs: number,
): Promise<{ certPem: string; notAfterMs: number }> {
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=Gantry cluster CA ${cluster}, O=${trustDomain}`,
    issuer: ca.certificate.subject,
    notBefore: new Date(nowMs - backdateMs),
    notAfter: new Date(Math.min(nowMs + ttlMs, ca.certificate.notAfter.getTime())),
    publicKey: csr.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: clusterIdentity(trustDomain, cluster) }]),
      trustDomainConstraint(trustDomain),
    ],
  });
  return { certPem: certificate.toString("pem"), notAfterMs: certificate.notAfter.getTime() };
}

/** A workload's certificate: its SPIFFE ID as the only name (URI SAN), for TLS servers and clients alike. */
export async function issueWorkloadCertificate(
  ca: RelayCa,
  publicKey: webcrypto.CryptoKey,
  spiffeId: string,
  trustDomain: string,
  nowMs: number,
  ttlMs: number,
): Promise<{ certPem: string; notAfterMs: number }> {
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `O=${trustDomain}`,
    issuer: ca.certificate.subject,
    notBefore: new Date(nowMs - backdateMs),
    notAfter: new Date(Math.min(nowMs + ttlMs, ca.certificate.notAfter.getTime())),
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeId }], true),
    ],
  });
  return { certPem: certificate.toString("pem"), notAfterMs: certificate.notAfter.getTime() };
}

/** A new key pair for a workload, and its private half as PKCS#8 PEM. */
export async function newWorkloadKey(): Promise<{ keys: webcrypto.CryptoKeyPair; keyPem: string }> {
  const keys = await generateKeyPair();
  return { keys, keyPem: await exportPkcs8(keys.privateKey) };
}

/** A certificate request for a cluster's intermediate CA. */
export async function intermediateRequest(cluster: string): Promise<{ keys: webcrypto.CryptoKeyPair; csrPem: string }> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=Gantry cluster CA ${cluster}`,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return { keys, csrPem: csr.toString("pem") };
}
