import { type webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { MemoryClusterStore } from "../../src/cluster/index.js";
import { exportPkcs8, generateKeyPair, loadRelayCa } from "../../src/cluster/pki.js";
import { ManualClock } from "../../src/lib/clock.js";
import { intermediateRequest, issueWorkloadCertificate, newWorkloadKey } from "../../src/trust/ca.js";
import type { ClusterCaState } from "../../src/trust/cluster-ca.js";
import {
  GantryTokenAttestor,
  mintWorkloadToken,
  parseKeyEncryptionKey,
  TrustAuthority,
  WorkloadIssuer,
} from "../../src/trust/index.js";
import { handshake } from "./tls.js";

const day = 24 * 3600_000;
const start = Date.parse("2026-12-03T12:00:00Z");
const kek = parseKeyEncryptionKey("11".repeat(32), "--ca-key-encryption-key-file /kek");

/** What an agent does with its intermediate: a key, a request, the root's signature, a state to issue with. */
async function clusterCa(authority: TrustAuthority, cluster: string): Promise<ClusterCaState> {
  const { keys, csrPem } = await intermediateRequest(cluster);
  const answer = await authority.signIntermediate(cluster, csrPem);
  const signer = await loadRelayCa(
    { certPem: answer.certPem, keyPem: await exportPkcs8(keys.privateKey) },
    { cert: "c", key: "k" },
  );
  return {
    signer,
    chainPem: [answer.certPem, ...answer.chainPem].join(""),
    bundlePem: answer.bundle.rootsPem.join(""),
    trustDomain: authority.trustDomain,
    notBeforeMs: signer.certificate.notBefore.getTime(),
    notAfterMs: signer.certificate.notAfter.getTime(),
  };
}

function fixedCa(state: ClusterCaState) {
  return { current: state, onChange: () => () => {} };
}

async function workload(
  ca: ClusterCaState,
  namespace: string,
  serviceAccount: string,
  clock = new ManualClock(Date.now()),
) {
  const attestor = { kind: "test", attest: async () => ({ namespace, serviceAccount }) };
  const issuer = new WorkloadIssuer({ ca: fixedCa(ca), attestor, timers: clock });
  const certificate = await issuer.issue(await issuer.attest("x"));
  return { cert: certificate.certChainPem, key: certificate.keyPem, ca: certificate.bundlePem, certificate };
}

function openAuthority(store = new MemoryClusterStore(), clock = new ManualClock(Date.now())) {
  return TrustAuthority.open({ store, trustDomain: "gantry.local", keyEncryptionKey: kek, clock });
}

describe("the root CA and the clusters' intermediates", () => {
  it("workload certificates chain to the root through their cluster's intermediate (path length 0, constrained to the trust domain)", async () => {
    const authority = await openAuthority();
    const east = await clusterCa(authority, "east");
    const { certificate } = await workload(east, "shop", "cart");
    const [leaf, intermediate] = certificate.certChainPem
      .split(/(?<=-----END CERTIFICATE-----\n)/)
      .map((p) => new X509Certificate(p));
    const root = new X509Certificate(certificate.bundlePem);
    expect(leaf?.verify((intermediate as X509Certificate).publicKey)).toBe(true);
    expect(intermediate?.verify(root.publicKey)).toBe(true);
    expect(leaf?.subjectAltName).toBe("URI:spiffe://gantry.local/ns/shop/sa/cart");
    const parsed = new x509.X509Certificate((intermediate as X509Certificate).raw);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)?.pathLength).toBe(0);
    expect(parsed.getExtension("2.5.29.30")?.critical).toBe(true);
    expect(intermediate?.subjectAltName).toBe("URI:spiffe://gantry.local/cluster/east");
  });

  it("workloads of two clusters handshake over mTLS, each verifying the other's chain and SPIFFE ID", async () => {
    const authority = await openAuthority();
    const server = await workload(await clusterCa(authority, "east"), "shop", "cart");
    const client = await workload(await clusterCa(authority, "west"), "web", "frontend");
    const result = await handshake(server, client, "spiffe://gantry.local/ns/shop/sa/cart");
    expect(result).toEqual({
      ok: true,
      serverSawClient: "spiffe://gantry.local/ns/web/sa/frontend",
      clientSawServer: "spiffe://gantry.local/ns/shop/sa/cart",
    });
  });

  it("refuses a client certificate from another root, an expired one, and one outside the trust domain", async () => {
    const authority = await openAuthority();
    const east = await clusterCa(authority, "east");
    const server = await workload(east, "shop", "cart");
    const stranger = await workload(await clusterCa(await openAuthority(), "east"), "web", "frontend");
    expect((await handshake(server, { ...stranger, ca: server.ca })).ok).toBe(false);
    // Issued two days ago for one hour.
    const { keys, keyPem } = await newWorkloadKey();
    const old = await issueWorkloadCertificate(
      east.signer,
      keys.publicKey,
      "spiffe://gantry.local/ns/web/sa/old",
      "gantry.local",
      Date.now() - 2 * day,
      3600_000,
    );
    const expired = await handshake(server, { cert: `${old.certPem}\n${east.chainPem}`, key: keyPem, ca: server.ca });
    expect(expired.ok).toBe(false);
    // The intermediate's name constraints: it cannot vouch for another trust domain.
    const outside = await issueWorkloadCertificate(
      east.signer,
      keys.publicKey,
      "spiffe://evil.example/ns/web/sa/x",
      "evil.example",
      Date.now(),
      3600_000,
    );
    const constrained = await handshake(server, {
      cert: `${outside.certPem}\n${east.chainPem}`,
      key: keyPem,
      ca: server.ca,
    });
    expect(constrained.ok).toBe(false);
    // And the same client with a good certificate passes, so the refusals above are the certificates'.
    const good = await workload(east, "web", "frontend");
    expect((await handshake(server, good)).ok).toBe(true);
  });

  it("two replicas on one store share the root; its key is stored sealed", async () => {
    const store = new MemoryClusterStore();
    const a = await openAuthority(store);
    const b = await openAuthority(store);
    expect((await a.bundle()).rootsPem).toEqual((await b.bundle()).rootsPem);
    const stored = (await store.trust()) ?? "";
    expect(stored).not.toContain("PRIVATE KEY");
    expect(stored).toContain("aes-256-gcm");
    await expect(TrustAuthority.open({ store, trustDomain: "gantry.local" })).rejects.toThrow(
      /stored root CA key: the key is encrypted; give its key-encryption key \(--ca-key-encryption-key-file\)/,
    );
    const wrong = parseKeyEncryptionKey("22".repeat(32), "--ca-key-encryption-key-file /other");
    await expect(TrustAuthority.open({ store, trustDomain: "gantry.local", keyEncryptionKey: wrong })).rejects.toThrow(
      /cannot decrypt the key with --ca-key-encryption-key-file \/other/,
    );
    await expect(TrustAuthority.open({ store, trustDomain: "other.local", keyEncryptionKey: kek })).rejects.toThrow(
      /trust domain gantry.local, not --trust-domain other.local/,
    );
  });

  it("a root rotation keeps every handshake working through the transition, then drops the old root", async () => {
    const clock = new ManualClock(Date.now());
    const authority = await openAuthority(new MemoryClusterStore(), clock);
    const oldServer = await workload(await clusterCa(authority, "east"), "shop", "cart");
    const oldBundle = oldServer.ca;
    const roots = await authority.rotateRoot(3600_000);
    expect(roots.map((r) => r.signing)).toEqual([false, true]);
    const newEast = await clusterCa(authority, "east");
    const newServer = await workload(newEast, "shop", "cart");
    const newClient = await workload(await clusterCa(authority, "west"), "web", "frontend");
    expect(new X509Certificate(newServer.cert).verify(new X509Certificate(oldBundle).publicKey)).toBe(false);
    // A client still holding only the old root, a server with a new-root certificate: the cross certificate bridges them.
    expect((await handshake(newServer, { ...newClient, ca: oldBundle })).ok).toBe(true);
    // A server still holding only the old root sees a client with a new-root certificate alike.
    expect((await handshake({ ...oldServer, ca: oldBundle }, newClient)).ok).toBe(true);
    // New bundle (both roots) against an old-root certificate.
    expect((await handshake(oldServer, { ...newClient, ca: newServer.ca })).ok).toBe(true);
    expect((await authority.bundle()).rootsPem).toHaveLength(2);
    clock.advance(3600_000);
    expect((await authority.bundle()).rootsPem).toHaveLength(1);
    // Past the transition, chains carry no cross certificate: leaf and intermediate only.
    const after = await workload(await clusterCa(authority, "east"), "shop", "cart", clock);
    expect(after.cert.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(newServer.cert.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });
});

describe("a CA the user brings", () => {
  async function ca(options: {
    name: string;
    issuer?: { cert: x509.X509Certificate; key: webcrypto.CryptoKey };
    pathLength?: number;
  }) {
    const keys = await generateKeyPair();
    const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const extensions = [
      new x509.BasicConstraintsExtension(true, options.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ];
    const cert = options.issuer
      ? await x509.X509CertificateGenerator.create({
          subject: options.name,
          issuer: options.issuer.cert.subject,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 365 * day),
          publicKey: keys.publicKey,
          signingKey: options.issuer.key,
          signingAlgorithm: algorithm,
          extensions,
        })
      : await x509.X509CertificateGenerator.createSelfSigned({
          name: options.name,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 365 * day),
          keys,
          signingAlgorithm: algorithm,
          extensions,
        });
    return { cert, key: keys.privateKey, certPem: cert.toString("pem"), keyPem: await exportPkcs8(keys.privateKey) };
  }
  const where = { cert: "--ca-cert-file /ca.pem", key: "--ca-key-file /ca.key" };

  it("an intermediate under the user's root: its chain is served, the user's root is the bundle", async () => {
    const root = await ca({ name: "CN=Corp root" });
    const mid = await ca({ name: "CN=Corp mesh CA", issuer: root });
    const authority = await TrustAuthority.open({
      store: new MemoryClusterStore(),
      trustDomain: "gantry.local",
      userCa: { certPem: `${mid.certPem}\n${root.certPem}\n`, keyPem: mid.keyPem, where },
    });
    const fingerprints = (await authority.bundle()).rootsPem.map((p) => new X509Certificate(p).fingerprint256);
    expect(fingerprints).toEqual([new X509Certificate(root.certPem).fingerprint256]);
    const east = await clusterCa(authority, "east");
    expect(east.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const server = await workload(east, "shop", "cart");
    const client = await workload(await clusterCa(authority, "west"), "web", "frontend");
    expect((await handshake(server, client)).ok).toBe(true);
    await expect(authority.rotateRoot()).rejects.toThrow(/--ca-cert-file/);
  });

  it("refuses, naming the flag, a CA with path length 0, a chain that does not reach a root, and a key of another certificate", async () => {
    const root = await ca({ name: "CN=Corp root" });
    const leafCa = await ca({ name: "CN=Corp leaf CA", issuer: root, pathLength: 0 });
    const open = (certPem: string, keyPem: string) =>
      TrustAuthority.open({
        store: new MemoryClusterStore(),
        trustDomain: "gantry.local",
        userCa: { certPem, keyPem, where },
      });
    await expect(open(`${leafCa.certPem}\n${root.certPem}`, leafCa.keyPem)).rejects.toThrow(
      /--ca-cert-file \/ca.pem: its path length constraint is 0/,
    );
    await expect(open(leafCa.certPem, leafCa.keyPem)).rejects.toThrow(
      /--ca-cert-file \/ca.pem: the chain ends at "CN=Corp leaf CA", which is not self-signed/,
    );
    await expect(open(root.certPem, leafCa.keyPem)).rejects.toThrow(/--ca-key-file \/ca.key: this key does not belong/);
    await expect(open("nothing", root.keyPem)).rejects.toThrow(/--ca-cert-file \/ca.pem: no PEM certificate/);
  });
});

describe("Gantry workload tokens", () => {
  const key = Buffer.alloc(32, 7);
  const clock = new ManualClock(start);
  const attestor = new GantryTokenAttestor({ key, cluster: "east", clock });

  it("proves the namespace and service account it was minted for", async () => {
    const token = mintWorkloadToken(
      key,
      { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: day },
      clock,
    );
    await expect(attestor.attest(token)).resolves.toEqual({
      namespace: "shop",
      serviceAccount: "cart",
      cluster: "east",
    });
  });

  it("refuses a forged token, one for another cluster, and an expired one, without showing the token", async () => {
    const forged = mintWorkloadToken(
      Buffer.alloc(32, 8),
      { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: day },
      clock,
    );
    await expect(attestor.attest(forged)).rejects.toMatchObject({
      reason: "invalid",
      message: expect.stringMatching(/not signed with cluster east's token key/),
    });
    const west = mintWorkloadToken(
      Buffer.alloc(32, 9),
      { cluster: "west", namespace: "shop", serviceAccount: "cart", ttlMs: day },
      clock,
    );
    await expect(attestor.attest(west)).rejects.toMatchObject({
      reason: "invalid",
      message: expect.stringMatching(/for cluster west/),
    });
    const short = mintWorkloadToken(
      key,
      { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: 1000 },
      clock,
    );
    const later = new GantryTokenAttestor({ key, cluster: "east", clock: { now: () => start + 2000 } });
    const err = await later.attest(short).catch((e: Error) => e);
    expect(err).toMatchObject({ reason: "expired" });
    expect((err as Error).message).not.toContain(short.split(".")[2]);
    await expect(attestor.attest("garbage")).rejects.toMatchObject({ reason: "invalid" });
  });

  it("refuses bad claims at mint time, naming the flag", () => {
    expect(() =>
      mintWorkloadToken(key, { cluster: "east", namespace: "Shop", serviceAccount: "cart", ttlMs: day }),
    ).toThrow(/--namespace "Shop"/);
    expect(() =>
      mintWorkloadToken(key, { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: 0 }),
    ).toThrow(/--ttl-seconds/);
  });
});
