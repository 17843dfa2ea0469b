import { webcrypto } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

// Certificates made in the test: a CA, and server and client certificates it signs (ECDSA P-256,
// quick to make). Node's crypto makes keys but not certificates; @peculiar/x509 signs them.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa extends Pem {
  /** A certificate this CA signs; servers get 127.0.0.1 and localhost as names unless told. */
  issue(options?: { name?: string; client?: boolean; dns?: string[]; ips?: string[] }): Promise<Pem>;
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
}

const day = 24 * 3600 * 1000;

export async function makeCa(name = "Gantry Test CA"): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - day),
    notAfter: new Date(now + day),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: caCert.toString("pem"),
    key: await exportKey(keys.privateKey),
    issue: async (options = {}) => {
      const leafKeys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
      const names = options.client
        ? []
        : [
            ...(options.dns ?? ["localhost"]).map((value) => ({ type: "dns" as const, value })),
            ...(options.ips ?? ["127.0.0.1"]).map((value) => ({ type: "ip" as const, value })),
          ];
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${options.name ?? (options.client ? "test client" : "localhost")}`,
        issuer: caCert.subject,
        notBefore: new Date(now - day),
        notAfter: new Date(now + day),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([
            options.client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
          ]),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        ],
      });
      return { cert: leaf.toString("pem"), key: await exportKey(leafKeys.privateKey) };
    },
  };
}

export interface TlsTestFiles {
  readonly dir: string;
  readonly ca: TestCa;
  /** CA, server and client certificates written to `dir`. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly server: Pem;
  readonly client: Pem;
}

/** A fresh CA, a server certificate for 127.0.0.1/localhost and a client certificate, in a temporary folder. */
export async function makeTlsFiles(): Promise<TlsTestFiles> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-tls-"));
  const ca = await makeCa();
  const server = await ca.issue();
  const client = await ca.issue({ client: true });
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  return {
    dir,
    ca,
    caFile: write("ca.pem", ca.cert),
    certFile: write("server.pem", server.cert),
    keyFile: write("server-key.pem", server.key),
    clientCertFile: write("client.pem", client.cert),
    clientKeyFile: write("client-key.pem", client.key),
    server,
    client,
  };
}
