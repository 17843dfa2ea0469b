// mTLS between workloads and AccessPolicy with Go gRPC on both ends: a real xDS-enabled Go server
// takes its Listener (TLS, RBAC) from Gantry, and real Go clients with xDS credentials call it with
// workload certificates made here (one root, an intermediate per cluster, SPIFFE URI SANs).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import {
  type GoClient,
  GoWorkloads,
  goMtlsBinary,
  greeterPolicies,
  greeterResources,
  whoami,
} from "../support/go-mtls.js";
import { portForLater } from "../support/ports.js";
import { waitFor } from "../support/wait.js";
import { certificateProviders, makeWorkloadPki, type WorkloadFiles } from "../support/workload-pki.js";

const binary = goMtlsBinary();
const logger = createLogger({ service: "test", level: "silent" });
const store = new MemoryStore();
const namespace = "mtls";
const target = "xds:///greeter.mtls";
let server: ManagementServer;
let serverPort: number;
const go = new GoWorkloads(binary ?? "");
const files: Record<string, WorkloadFiles> = {};

function bootstrap(nodeId: string, labels: Record<string, string>, certs: WorkloadFiles): object {
  return {
    ...buildGrpcBootstrap({ nodeId, labels, xdsHost: "127.0.0.1", xdsPort: server.xdsPort }),
    certificate_providers: certificateProviders(certs),
  };
}

describe.skipIf(!binary)("mTLS and AccessPolicy, Go gRPC on both ends", () => {
  beforeAll(async () => {
    const pki = await makeWorkloadPki();
    files["server"] = await pki.workload("mtls", "greeter");
    files["web"] = await pki.workload("mtls", "web");
    files["batch"] = await pki.workload("mtls", "batch", { cluster: "west" });
    files["expired"] = await pki.workload("mtls", "web", { expired: true, dirName: "expired" });
    files["stranger"] = await pki.workload("mtls", "web", { otherRoot: true, dirName: "stranger" });
    serverPort = await portForLater();
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
    const allowed = files["web"]?.spiffeId ?? "";
    const denied = files["batch"]?.spiffeId ?? "";
    await store.apply(greeterResources({ namespace, serverPort, allowed, denied }));
    await server.settle();
    await go.server(
      `127.0.0.1:${serverPort}`,
      bootstrap("greeter-1", { app: "greeter-server" }, files["server"] as WorkloadFiles),
      20_000,
    );
  }, 90_000);

  afterAll(async () => {
    await go.stop();
    await server?.stop();
  });

  const client = (name: string): Promise<GoClient> =>
    go.client(bootstrap(`client-${name}`, { app: "mtls-caller" }, files[name] as WorkloadFiles));

  it("a call over mTLS succeeds and the server sees the caller's SPIFFE ID", async () => {
    const web = await client("web");
    const result = await web.run({ target, method: whoami, calls: 5, timeoutMs: 10_000 });
    expect(result.errors).toEqual([]);
    expect(result.identities).toEqual({ [files["web"]?.spiffeId ?? ""]: 5 });
  }, 30_000);

  it("refuses a caller without a certificate, with one from another root, or an expired one", async () => {
    const address = `127.0.0.1:${serverPort}`;
    const plain = await client("web");
    const noCert = await plain.run({ target: address, creds: "tls", calls: 1 });
    expect(noCert.codes).toEqual({ "14": 1 });
    const plaintext = await plain.run({ target: address, creds: "insecure", calls: 1 });
    expect(plaintext.codes).toEqual({ "14": 1 });
    for (const name of ["stranger", "expired"]) {
      const refused = await (await client(name)).run({ target, method: whoami, calls: 2 });
      expect(refused.codes, `${name}: ${refused.errors.join("; ")}`).toEqual({ "14": 2 });
    }
    // The same key material presented directly: refused by the server's handshake, not the client's.
    const expired = files["expired"] as WorkloadFiles;
    const direct = await plain.run({
      target: address,
      creds: "tls",
      certFile: expired.certChainFile,
      keyFile: expired.keyFile,
      calls: 1,
    });
    expect(direct.codes).toEqual({ "14": 1 });
  }, 60_000);

  it("enforces an AccessPolicy, and a change to it within a second", async () => {
    const web = await client("web");
    const batch = await client("batch");
    expect((await web.run({ target, method: whoami, calls: 3 })).codes).toEqual({ "0": 3 });
    const denied = await batch.run({ target, method: whoami, calls: 3 });
    expect(denied.codes).toEqual({ "7": 3 });

    const webId = files["web"]?.spiffeId ?? "";
    const batchId = files["batch"]?.spiffeId ?? "";
    const changed = Date.now();
    await store.apply(greeterPolicies(namespace, batchId, webId));
    const tookMs = await waitFor(
      async () => {
        const [b, w] = await Promise.all([
          batch.run({ target, method: whoami, calls: 1, timeoutMs: 1_000 }),
          web.run({ target, method: whoami, calls: 1, timeoutMs: 1_000 }),
        ]);
        return b.codes["0"] === 1 && w.codes["7"] === 1 ? Date.now() - changed : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 10, what: "the changed AccessPolicy to be enforced" },
    );
    console.log(`AccessPolicy change enforced by the Go server after ${tookMs} ms`);
    expect(tookMs).toBeLessThan(1_000);
    const after = await batch.run({ target, method: whoami, calls: 3 });
    expect(after.identities).toEqual({ [batchId]: 3 });
  }, 60_000);
});
