import { webcrypto } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

// Workload certificates made in the test, shaped as Gantry's CA issues them (the shared conventions of
// docs/security.md): one root, an intermediate per workload cluster, workload certificates whose URI
// SAN is spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, written in the proxyless gRPC
// layout (cert-chain.pem, key.pem, root-cert.pem in <dir>/<namespace>/<service-account>/).

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const hour = 3600_000;

interface Signer {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function makeRoot(name: string, trustDomain: string): Promise<Signer> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}, O=${trustDomain}`,
    notBefore: new Date(now - hour),
    notAfter: new Date(now + 24 * hour),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

async function makeIntermediate(root: Signer, cluster: string, trustDomain: string): Promise<Signer> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=Gantry cluster ${cluster}, O=${trustDomain}`,
    issuer: root.cert.subject,
    notBefore: new Date(now - hour),
    notAfter: new Date(now + 12 * hour),
    publicKey: keys.publicKey,
    signingKey: root.key,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}/cluster/${cluster}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.cert),
    ],
  });
  return { cert, key: keys.privateKey };
}

export interface WorkloadFiles {
  /** The folder holding cert-chain.pem, key.pem and root-cert.pem. */
  dir: string;
  spiffeId: string;
  certChainFile: string;
  keyFile: string;
  rootFile: string;
}

export interface WorkloadPki {
  readonly trustDomain: string;
  readonly rootPem: string;
  /**
   * A workload certificate from `cluster`'s intermediate (made on first use). `expired`: its validity
   * ended an hour ago. `otherRoot`: issued under a root nobody trusts (its root-cert.pem is still
   * the real root, so the refusal is the peer's).
   */
  workload(
    namespace: string,
    serviceAccount: string,
    options?: { cluster?: string; expired?: boolean; otherRoot?: boolean; dirName?: string },
  ): Promise<WorkloadFiles>;
}

export async function makeWorkloadPki(trustDomain = "gantry.local"): Promise<WorkloadPki> {
  const base = mkdtempSync(join(tmpdir(), "gantry-workload-pki-"));
  const root = await makeRoot("Gantry root CA", trustDomain);
  const strangerRoot = await makeRoot("Someone else's root", trustDomain);
  const intermediates = new Map<string, Signer>();
  const intermediate = async (cluster: string, under: Signer, key: string) => {
    let signer = intermediates.get(key);
    if (!signer) {
      signer = await makeIntermediate(under, cluster, trustDomain);
      intermediates.set(key, signer);
    }
    return signer;
  };
  const rootPem = root.cert.toString("pem");
  return {
    trustDomain,
    rootPem,
    async workload(namespace, serviceAccount, options = {}) {
      const cluster = options.cluster ?? "east";
      const issuer = options.otherRoot
        ? await intermediate(cluster, strangerRoot, `stranger/${cluster}`)
        : await intermediate(cluster, root, cluster);
      const keys = await newKeys();
      const spiffeId = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
      const now = Date.now();
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: "",
        issuer: issuer.cert.subject,
        notBefore: new Date(now - (options.expired ? 3 * hour : hour)),
        notAfter: new Date(now + (options.expired ? -hour : hour)),
        publicKey: keys.publicKey,
        signingKey: issuer.key,
        signingAlgorithm: algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          // A SPIFFE SVID: the URI SAN is the identity, and the subject is empty, so the SAN is critical.
          new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeId }], true),
          await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
        ],
      });
      const dir = join(base, options.dirName ?? join(namespace, serviceAccount));
      mkdirSync(dir, { recursive: true });
      const write = (name: string, text: string) => {
        const file = join(dir, name);
        writeFileSync(file, text);
        return file;
      };
      return {
        dir,
        spiffeId,
        certChainFile: write("cert-chain.pem", `${leaf.toString("pem")}\n${issuer.cert.toString("pem")}\n`),
        keyFile: write("key.pem", await keyPem(keys.privateKey)),
        rootFile: write("root-cert.pem", `${rootPem}\n`),
      };
    },
  };
}

/**
 * The `gantry` certificate provider of a gRPC bootstrap (gRFC A29's file_watcher plugin), reading a
 * workload's folder: what `gantry bootstrap --format grpc --certs-dir` is to write.
 */
export function certificateProviders(files: WorkloadFiles): Record<string, unknown> {
  return {
    gantry: {
      plugin_name: "file_watcher",
      config: {
        certificate_file: files.certChainFile,
        private_key_file: files.keyFile,
        ca_certificate_file: files.rootFile,
        refresh_interval: "1s",
      },
    },
  };
}
