import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { analyzeCertificates, type ServedCertificate, servedCertificates } from "../../src/insights/index.js";
import { parseResources } from "../../src/resources/index.js";
import { makeCa } from "../support/certs.js";

const day = 86_400_000;
const now = Date.UTC(2026, 5, 1);
const secret = { kind: "Secret", namespace: "default", name: "tls" };

async function pkcs8(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** A self-signed certificate with the given validity, key algorithm and signature hash. */
async function selfSigned(options: { notAfter: number; rsaBits?: number; hash?: string }) {
  const algorithm = options.rsaBits
    ? {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: options.rsaBits,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: options.hash ?? "SHA-256",
      }
    : { name: "ECDSA", namedCurve: "P-256", hash: options.hash ?? "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: "CN=svc.example",
      notBefore: new Date(now - 30 * day),
      notAfter: new Date(options.notAfter),
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
      signingAlgorithm: algorithm,
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  return { cert: cert.toString("pem"), key: await pkcs8(keys.privateKey) };
}

function served(cert: string, key?: string): ServedCertificate {
  return { secret, certificates: cert, ...(key === undefined ? {} : { privateKey: key }) };
}

describe("certificate analyzers", () => {
  it("a sound certificate valid for a year gives nothing", async () => {
    const { cert, key } = await selfSigned({ notAfter: now + 365 * day });
    expect(await analyzeCertificates([served(cert, key)], now)).toEqual([]);
  });

  it("GTY0301: expiring within 30 days, with the days left", async () => {
    const { cert, key } = await selfSigned({ notAfter: now + 10 * day + 1000 });
    const found = await analyzeCertificates([served(cert, key)], now);
    expect(found.map((f) => f.code)).toEqual(["GTY0301"]);
    expect(found[0]?.args["days"]).toBe("10");
    expect(found[0]?.args["subject"]).toBe("CN=svc.example");
  });

  it("GTY0302: expired", async () => {
    const { cert, key } = await selfSigned({ notAfter: now - day });
    expect((await analyzeCertificates([served(cert, key)], now)).map((f) => f.code)).toEqual(["GTY0302"]);
  });

  it("GTY0303: a 1024-bit RSA key and a SHA-1 signature", async () => {
    const rsa = await selfSigned({ notAfter: now + 365 * day, rsaBits: 1024 });
    const found = await analyzeCertificates([served(rsa.cert, rsa.key)], now);
    expect(found.map((f) => [f.code, f.args["weakness"]])).toEqual([["GTY0303", "an RSA key of 1024 bits"]]);
    const sha1 = await selfSigned({ notAfter: now + 365 * day, hash: "SHA-1" });
    const weak = await analyzeCertificates([served(sha1.cert, sha1.key)], now);
    expect(weak.map((f) => [f.code, f.args["weakness"]])).toEqual([["GTY0303", "a SHA-1 signature"]]);
  });

  it("GTY0304: a chain whose next certificate did not sign the leaf, a key of another certificate, bad PEM", async () => {
    const ca = await makeCa("Right CA");
    const other = await makeCa("Other CA");
    const leaf = await ca.issue();
    const stranger = await other.issue();
    // The test CA's certificates live a day: only the chain's findings matter here.
    const chain = async (s: ServedCertificate) =>
      (await analyzeCertificates([s], Date.now())).filter((f) => f.code === "GTY0304");
    expect(await chain(served(`${leaf.cert}\n${ca.cert}`, leaf.key))).toEqual([]);
    const broken = await chain(served(`${leaf.cert}\n${other.cert}`, leaf.key));
    expect(broken).toHaveLength(1);
    expect(broken[0]?.args["problem"]).toMatch(
      /certificate 0 \(CN=localhost\) is not issued by the next one \(CN=Other CA\)/,
    );
    const wrongKey = await chain(served(leaf.cert, stranger.key));
    expect(wrongKey.map((f) => f.args["problem"])).toEqual(["the private key does not belong to CN=localhost"]);
    for (const f of wrongKey) expect(JSON.stringify(f)).not.toContain("PRIVATE KEY");
    const garbage = await analyzeCertificates(
      [served("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")],
      now,
    );
    expect(garbage.map((f) => f.code)).toEqual(["GTY0304"]);
  });

  it("reads inline PEM from Secrets and skips file sources", async () => {
    const { cert, key } = await selfSigned({ notAfter: now + 365 * day });
    const indent = (pem: string) => pem.trim().split("\n").join("\n        ");
    const yaml = `apiVersion: gantry/v1
kind: Secret
metadata: { name: inline }
spec:
  tls:
    certificateChain:
      inline: |
        ${indent(cert)}
    privateKey:
      inline: |
        ${indent(key)}
---
apiVersion: gantry/v1
kind: Secret
metadata: { name: on-disk }
spec:
  tls:
    certificateChain: { file: /etc/certs/tls.crt }
    privateKey: { file: /etc/certs/tls.key }
`;
    const { resources, rejected } = parseResources(yaml, "secrets.yaml");
    expect(rejected).toEqual([]);
    const list = servedCertificates(resources);
    expect(list.map((s) => s.secret.name)).toEqual(["inline"]);
    expect(await analyzeCertificates(list, now)).toEqual([]);
  });
});
