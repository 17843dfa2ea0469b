// Certificate analyzers for the TLS Secrets Gantry serves: expiring (GTY0301), expired (GTY0302),
// weak keys or signatures (GTY0303), broken chains and key pairs (GTY0304). Only inline PEM is read:
// a `file` source is a path on the proxy, which the server cannot see. No secret material (the
// private key) ever reaches a finding.
import { createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { PemConverter, X509Certificate } from "@peculiar/x509";
import type { Resource } from "../../resources/index.js";
import type { Finding, Target } from "../types.js";

export interface ServedCertificate {
  readonly secret: Target;
  /** PEM: the leaf first, then intermediates (or, for a CA bundle, any number of CAs). */
  readonly certificates: string;
  /** PEM; only for a certificate-and-key Secret. */
  readonly privateKey?: string;
}

export interface CertificateThresholds {
  /** Reported as expiring under this many days. Default 30. */
  readonly expiringDays: number;
}

export const defaultCertificateThresholds: CertificateThresholds = { expiringDays: 30 };

const crypto = webcrypto as unknown as Parameters<X509Certificate["verify"]>[1];
const day = 86_400_000;

/** The Secrets with inline PEM, as the analyzers read them. */
export function servedCertificates(resources: readonly Resource[]): ServedCertificate[] {
  const out: ServedCertificate[] = [];
  for (const r of resources) {
    if (r.kind !== "Secret") continue;
    const secret = { kind: "Secret", namespace: r.metadata.namespace, name: r.metadata.name };
    const spec = r.spec.kind;
    if (spec.case === "tls") {
      const chain = spec.value.certificateChain?.source;
      const key = spec.value.privateKey?.source;
      if (chain?.case !== "inline") continue;
      out.push({ secret, certificates: chain.value, ...(key?.case === "inline" ? { privateKey: key.value } : {}) });
    } else if (spec.case === "ca" && spec.value.certificates?.source.case === "inline") {
      out.push({ secret, certificates: spec.value.certificates.source.value });
    }
  }
  return out;
}

function secretName(t: Target): string {
  return `${t.namespace}/${t.name}`;
}

function finding(
  code: string,
  served: ServedCertificate,
  subject: string,
  args: Record<string, string>,
  evidence: Record<string, string>,
): Finding {
  return { code, targets: [served.secret], subject, args: { name: secretName(served.secret), ...args }, evidence };
}

/** RSA under 2048 bits, EC under 256, SHA-1 or MD5 signatures; undefined when none. */
function weakness(cert: X509Certificate): string | undefined {
  const details = createPublicKey({
    key: Buffer.from(cert.publicKey.rawData),
    format: "der",
    type: "spki",
  }).asymmetricKeyDetails;
  if (details?.modulusLength !== undefined && details.modulusLength < 2048) {
    return `an RSA key of ${details.modulusLength} bits`;
  }
  const curve = details?.namedCurve;
  if (curve && /(192|224)|secp160/.test(curve)) return `an EC key on ${curve}`;
  const hash = (cert.signatureAlgorithm as { hash?: { name?: string } }).hash?.name ?? "";
  if (/^(SHA-1|MD5)$/i.test(hash)) return `a ${hash} signature`;
  return undefined;
}

async function analyzeOne(served: ServedCertificate, now: number, t: CertificateThresholds): Promise<Finding[]> {
  const out: Finding[] = [];
  let certs: X509Certificate[];
  try {
    certs = PemConverter.decode(served.certificates).map((der) => new X509Certificate(der));
  } catch (err) {
    return [finding("GTY0304", served, "parse", { problem: `the PEM does not parse: ${(err as Error).message}` }, {})];
  }
  if (certs.length === 0) {
    return [finding("GTY0304", served, "parse", { problem: "no certificate in the PEM" }, {})];
  }
  for (const [i, cert] of certs.entries()) {
    const subject = cert.subject;
    const evidence = { subject, notAfter: cert.notAfter.toISOString(), position: String(i) };
    const left = cert.notAfter.getTime() - now;
    if (left <= 0) {
      out.push(finding("GTY0302", served, subject, { subject, notAfter: cert.notAfter.toISOString() }, evidence));
    } else if (left < t.expiringDays * day) {
      out.push(finding("GTY0301", served, subject, { subject, days: String(Math.floor(left / day)) }, evidence));
    }
    const weak = weakness(cert);
    if (weak)
      out.push(finding("GTY0303", served, subject, { subject, weakness: weak }, { ...evidence, weakness: weak }));
  }
  // A chain (a certificate-and-key Secret) must link: each certificate signed by the next.
  if (served.privateKey !== undefined) {
    for (let i = 0; i + 1 < certs.length; i++) {
      const cert = certs[i] as X509Certificate;
      const issuer = certs[i + 1] as X509Certificate;
      const signed = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto).catch(() => false);
      if (!signed || cert.issuer !== issuer.subject) {
        out.push(
          finding(
            "GTY0304",
            served,
            `chain-${i}`,
            { problem: `certificate ${i} (${cert.subject}) is not issued by the next one (${issuer.subject})` },
            { subject: cert.subject, issuer: cert.issuer, next: issuer.subject },
          ),
        );
      }
    }
    const leaf = certs[0] as X509Certificate;
    if (!keyMatches(served.privateKey, leaf)) {
      out.push(
        finding(
          "GTY0304",
          served,
          "key",
          { problem: `the private key does not belong to ${leaf.subject}` },
          {
            subject: leaf.subject,
          },
        ),
      );
    }
  }
  return out;
}

function keyMatches(privateKeyPem: string, leaf: X509Certificate): boolean {
  try {
    const derived = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
    return Buffer.compare(derived, Buffer.from(leaf.publicKey.rawData)) === 0;
  } catch {
    return false;
  }
}

export async function analyzeCertificates(
  served: readonly ServedCertificate[],
  now: number,
  thresholds: CertificateThresholds = defaultCertificateThresholds,
): Promise<Finding[]> {
  const all = await Promise.all(served.map((s) => analyzeOne(s, now, thresholds)));
  return all.flat();
}
