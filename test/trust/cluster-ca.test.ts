import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { enroll } from "../../src/agent/index.js";
import { ClusterRegistry, MemoryClusterStore, RelayAuth } from "../../src/cluster/index.js";
import { RegistrationService } from "../../src/gen/gantry/relay/v1/registration_pb.js";
import { TrustService } from "../../src/gen/gantry/relay/v1/trust_pb.js";
import { GrpcServer } from "../../src/lib/grpc.js";
import {
  ClusterCa,
  parseKeyEncryptionKey,
  TrustAuthority,
  trustService,
  WorkloadIssuer,
} from "../../src/trust/index.js";
import { waitFor } from "../support/wait.js";
import { blocks, chainsTo } from "./tls.js";

// The agent's intermediate CA against a relay port on loopback (RegistrationService and TrustService,
// as `gantry server --relay-port` serves them): issued over mTLS, kept sealed in the data dir,
// renewed when the root rotates.

const kek = parseKeyEncryptionKey("cd".repeat(32), "--key-encryption-key-file /kek");

async function relay() {
  const store = new MemoryClusterStore();
  const registry = await ClusterRegistry.open({ store });
  const authority = await TrustAuthority.open({ store, trustDomain: "gantry.local" });
  const auth = new RelayAuth({ registry });
  await auth.start();
  const server = new GrpcServer({ credentials: auth.serverCredentials() });
  server.add(RegistrationService, auth.registrationService());
  server.add(TrustService, trustService({ authority, auth }));
  const port = await server.listen("127.0.0.1", 0);
  return {
    address: `127.0.0.1:${port}`,
    registry,
    authority,
    close: async () => {
      auth.stop();
      await server.shutdown(0);
    },
  };
}

describe("the agent's intermediate CA", () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("is signed over the relay, kept sealed in the data dir, and read back from it while the server is away", async () => {
    dir = await mkdtemp(join(tmpdir(), "gantry-cluster-ca-"));
    const server = await relay();
    try {
      const { token } = await server.registry.add("east");
      await writeFile(join(dir, "token"), token);
      const credentials = await enroll({
        relay: server.address,
        tokenFile: join(dir, "token"),
        dataDir: join(dir, "data"),
        cluster: "east",
        agentVersion: "test",
      });
      const options = {
        dataDir: join(dir, "data"),
        cluster: "east",
        relay: [server.address],
        credentials,
        keyEncryptionKey: kek,
      };
      const ca = new ClusterCa(options);
      await ca.start();
      const first = await waitFor(() => ca.current, { timeoutMs: 10_000, what: "the intermediate" });
      expect(first?.trustDomain).toBe("gantry.local");
      const stored = await readFile(join(dir, "data", "workload-ca.json"), "utf8");
      expect(stored).not.toContain("PRIVATE KEY");
      const root = new X509Certificate((await server.authority.bundle()).rootsPem[0] as string);
      expect(new X509Certificate(first?.chainPem as string).verify(root.publicKey)).toBe(true);

      // A second agent process on the same data dir starts from the file, without the server.
      const again = new ClusterCa(options);
      await server.close();
      await again.start();
      expect(again.current?.chainPem).toBe(first?.chainPem);
      again.stop();
      ca.stop();
    } finally {
      await server.close();
    }
  });

  it("takes a root rotation: the bundle with both roots, then an intermediate from the new root", async () => {
    dir = await mkdtemp(join(tmpdir(), "gantry-cluster-ca-"));
    const server = await relay();
    try {
      const { token } = await server.registry.add("east");
      await writeFile(join(dir, "token"), token);
      const credentials = await enroll({
        relay: server.address,
        tokenFile: join(dir, "token"),
        dataDir: join(dir, "data"),
        cluster: "east",
        agentVersion: "test",
      });
      const ca = new ClusterCa({ dataDir: join(dir, "data"), cluster: "east", relay: [server.address], credentials });
      await ca.start();
      await waitFor(() => ca.current, { timeoutMs: 10_000, what: "the intermediate" });
      const changes: string[] = [];
      ca.onChange((state) => changes.push(state.chainPem));
      const [newRootPem] = (await server.authority.rotateRoot(3600_000)).filter((r) => r.signing).map((r) => r.certPem);
      await ca.refreshBundle();
      await waitFor(() => ca.current?.bundlePem.match(/BEGIN CERTIFICATE/g)?.length === 2, { timeoutMs: 5_000 });
      const chain =
        (ca.current?.chainPem ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
      const newRoot = new X509Certificate(newRootPem as string);
      expect(new X509Certificate(chain[0] as string).verify(newRoot.publicKey)).toBe(true);
      // The intermediate, then the new root cross-signed by the old one.
      expect(chain).toHaveLength(2);
      expect(changes.length).toBeGreaterThanOrEqual(2);
      // A workload certificate from it chains to the new root, and through the cross certificate to the old.
      const attestor = { kind: "test", attest: async () => ({ namespace: "shop", serviceAccount: "cart" }) };
      const issued = await new WorkloadIssuer({ ca, attestor }).issue({ namespace: "shop", serviceAccount: "cart" });
      expect(chainsTo(issued.certChainPem, newRootPem as string)).toBe(true);
      expect(chainsTo(issued.certChainPem, blocks(issued.bundlePem)[0] as string)).toBe(true);
      ca.stop();
    } finally {
      await server.close();
    }
  });
});
