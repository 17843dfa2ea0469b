import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryClusterStore } from "../../src/cluster/index.js";
import { exportPkcs8, loadRelayCa } from "../../src/cluster/pki.js";
import { ManualClock } from "../../src/lib/clock.js";
import { intermediateRequest } from "../../src/trust/ca.js";
import type { ClusterCaState } from "../../src/trust/cluster-ca.js";
import {
  AttestationError,
  AttestorChain,
  GantryTokenAttestor,
  mintWorkloadToken,
  TrustAuthority,
  WorkloadCertFiles,
  type WorkloadCertificate,
  WorkloadIssuer,
} from "../../src/trust/index.js";
import { waitFor } from "../support/wait.js";

async function caState(clock: ManualClock): Promise<ClusterCaState> {
  const authority = await TrustAuthority.open({ store: new MemoryClusterStore(), trustDomain: "gantry.local", clock });
  const { keys, csrPem } = await intermediateRequest("east");
  const answer = await authority.signIntermediate("east", csrPem);
  const signer = await loadRelayCa(
    { certPem: answer.certPem, keyPem: await exportPkcs8(keys.privateKey) },
    { cert: "c", key: "k" },
  );
  return {
    signer,
    chainPem: answer.certPem,
    bundlePem: answer.bundle.rootsPem.join(""),
    trustDomain: "gantry.local",
    notBeforeMs: signer.certificate.notBefore.getTime(),
    notAfterMs: signer.certificate.notAfter.getTime(),
  };
}

const key = Buffer.alloc(32, 3);
const hour = 3600_000;

describe("the workload issuer", () => {
  it("rotates a workload's certificate at two thirds of its life, and stops once its token has expired", async () => {
    const clock = new ManualClock(Date.now());
    const state = await caState(clock);
    const attestor = new GantryTokenAttestor({ key, cluster: "east", clock });
    const issuer = new WorkloadIssuer({
      ca: { current: state, onChange: () => () => {} },
      attestor,
      ttlMs: 3 * hour,
      timers: clock,
    });
    const token = mintWorkloadToken(
      key,
      { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: 3.5 * hour },
      clock,
    );
    const issued: WorkloadCertificate[] = [];
    const refused: AttestationError[] = [];
    const watch = await issuer.watch(
      token,
      (c) => issued.push(c),
      (e) => refused.push(e),
    );
    expect(issued).toHaveLength(1);
    expect(issued[0]?.spiffeId).toBe("spiffe://gantry.local/ns/shop/sa/cart");
    // X.509 keeps whole seconds: the certificate ends up to a second short of 3 h.
    clock.advance(2 * hour - 2_000);
    await new Promise((r) => setImmediate(r));
    expect(issued).toHaveLength(1);
    clock.advance(2_000);
    await waitFor(() => issued.length === 2, { timeoutMs: 5_000 });
    expect(issued[1]?.certChainPem).not.toBe(issued[0]?.certChainPem);
    expect(issued[1]?.keyPem).not.toBe(issued[0]?.keyPem);
    // The next rotation (about 4 h) falls after the token's expiry (3.5 h): no certificate, and it says why.
    clock.advance(2 * hour);
    await waitFor(() => refused.length === 1, { timeoutMs: 5_000 });
    expect(refused[0]?.reason).toBe("expired");
    expect(issued).toHaveLength(2);
    watch.stop();
  });

  it("re-issues when the intermediate changes during an issuance (the certificate follows the latest intermediate)", async () => {
    const clock = new ManualClock(Date.now());
    const [first, second, third] = [await caState(clock), await caState(clock), await caState(clock)];
    const listeners = new Set<(state: ClusterCaState) => void>();
    let current = first as ClusterCaState;
    /** Set to make the next read of the intermediate bring a change right after it. */
    let changeAfterRead: ClusterCaState | undefined;
    const ca = {
      get current() {
        const read = current;
        const next = changeAfterRead;
        if (next) {
          changeAfterRead = undefined;
          queueMicrotask(() => {
            current = next;
            for (const listener of listeners) listener(next);
          });
        }
        return read;
      },
      onChange: (listener: (state: ClusterCaState) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const attestor = { kind: "test", attest: async () => ({ namespace: "shop", serviceAccount: "cart" }) };
    const issuer = new WorkloadIssuer({ ca, attestor, timers: clock });
    const issued: WorkloadCertificate[] = [];
    const watch = await issuer.watch(
      "x",
      (c) => issued.push(c),
      () => {},
    );
    changeAfterRead = third;
    current = second as ClusterCaState;
    for (const listener of listeners) listener(current);
    const thirdKey = new X509Certificate(third?.chainPem as string).publicKey;
    const fromThird = (c: WorkloadCertificate | undefined) =>
      c !== undefined && new X509Certificate(c.certChainPem).verify(thirdKey);
    await waitFor(() => fromThird(issued.at(-1)), {
      timeoutMs: 5_000,
      what: "a certificate from the intermediate that came during the issuance",
    });
    watch.stop();
  });

  it("gives nothing to an unproven workload", async () => {
    const clock = new ManualClock(Date.now());
    const attestor = new GantryTokenAttestor({ key, cluster: "east", clock });
    const issuer = new WorkloadIssuer({
      ca: { current: await caState(clock), onChange: () => () => {} },
      attestor,
      timers: clock,
    });
    await expect(
      issuer.watch(
        "gwt1.e30.AAAA",
        () => {},
        () => {},
      ),
    ).rejects.toBeInstanceOf(AttestationError);
  });

  it("an attestor chain takes the first attestor that proves the credential and names every refusal", async () => {
    const refuse = { kind: "k8s", attest: async () => Promise.reject(new AttestationError("not a JWT", "invalid")) };
    const accept = { kind: "gantry-token", attest: async () => ({ namespace: "a", serviceAccount: "b" }) };
    await expect(new AttestorChain([refuse, accept]).attest("x")).resolves.toEqual({
      namespace: "a",
      serviceAccount: "b",
    });
    const down = { kind: "k8s", attest: async () => Promise.reject(new AttestationError("API down", "unavailable")) };
    await expect(new AttestorChain([down, refuse]).attest("x")).rejects.toMatchObject({
      reason: "unavailable",
      message: "k8s: API down; k8s: not a JWT",
    });
  });
});

describe("certificate files for proxyless gRPC", () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("writes a proven workload's three files under <ns>/<sa>/ and replaces them whole on rotation; an unproven token gets none", async () => {
    dir = await mkdtemp(join(tmpdir(), "gantry-certs-"));
    const clock = new ManualClock(Date.now());
    const attestor = new GantryTokenAttestor({ key, cluster: "east", clock });
    const issuer = new WorkloadIssuer({
      ca: { current: await caState(clock), onChange: () => () => {} },
      attestor,
      ttlMs: 3 * hour,
      timers: clock,
    });
    const tokens = join(dir, "tokens");
    const certs = join(dir, "certs");
    await import("node:fs/promises").then((fs) => fs.mkdir(tokens));
    await writeFile(
      join(tokens, "cart.token"),
      mintWorkloadToken(key, { cluster: "east", namespace: "shop", serviceAccount: "cart", ttlMs: 10 * hour }, clock),
    );
    await writeFile(
      join(tokens, "forged.token"),
      mintWorkloadToken(
        Buffer.alloc(32, 1),
        { cluster: "east", namespace: "shop", serviceAccount: "evil", ttlMs: hour },
        clock,
      ),
    );
    const files = new WorkloadCertFiles({ issuer, tokensDir: tokens, certsDir: certs, timers: clock });
    await files.start();
    const read = (name: string) => readFile(join(certs, "shop", "cart", name), "utf8").catch(() => "");
    await waitFor(async () => (await read("cert-chain.pem")) !== "", { timeoutMs: 5_000 });
    const first = {
      chain: await read("cert-chain.pem"),
      key: await read("key.pem"),
      roots: await read("root-cert.pem"),
    };
    expect(first.roots).toContain("BEGIN CERTIFICATE");
    expect(first.key).toContain("BEGIN PRIVATE KEY");
    clock.advance(2 * hour);
    await waitFor(async () => (await read("cert-chain.pem")) !== first.chain, { timeoutMs: 5_000 });
    expect(await read("key.pem")).not.toBe(first.key);
    await expect(readFile(join(certs, "shop", "evil", "key.pem"))).rejects.toThrow(/ENOENT/);
    files.stop();
  });
});
