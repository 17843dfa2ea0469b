import { readFileSync } from "node:fs";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tlsFilesFromFlags, xdsClientTlsFromFlags } from "../../src/cli/options.js";
import { RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient, GrpcStatus } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { parseResources } from "../../src/resources/index.js";
import { resourceToDocument } from "../../src/server/documents.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { shopResources } from "../e2e/fixture.js";
import { makeTlsFiles, type TlsTestFiles } from "../support/certs.js";
import { runGantry } from "../support/cli.js";
import { freePorts, isListening } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const logger = createLogger({ service: "test", level: "silent" });
// Each run starts a Node process: slow on a loaded machine.
const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 100_000 });

let files: TlsTestFiles;
beforeAll(async () => {
  files = await makeTlsFiles();
});

describe("TLS flags", () => {
  it("take a port's pair (and client CA) under its prefix, checked at once", () => {
    expect(tlsFilesFromFlags({})).toBeUndefined();
    expect(
      tlsFilesFromFlags(
        { xdsTlsCertFile: files.certFile, xdsTlsKeyFile: files.keyFile, xdsTlsClientCaFile: files.caFile },
        "xds",
      ),
    ).toMatchObject({ certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile });
    expect(() => tlsFilesFromFlags({ apiTlsCertFile: files.certFile }, "api")).toThrow(
      "--api-tls-cert-file needs --api-tls-key-file",
    );
    expect(() => tlsFilesFromFlags({ tlsClientCaFile: files.caFile })).toThrow(
      "--tls-client-ca-file needs --tls-cert-file and --tls-key-file",
    );
    expect(() => tlsFilesFromFlags({ tlsCertFile: files.certFile, tlsKeyFile: files.clientKeyFile })).toThrow(
      `--tls-key-file ${files.clientKeyFile}: the key does not match the certificate in ${files.certFile}`,
    );
    expect(() => xdsClientTlsFromFlags({ xdsCaFile: files.caFile })).toThrow("need --xds-server");
    expect(() => xdsClientTlsFromFlags({ xdsServer: "h:1", xdsCertFile: files.clientCertFile })).toThrow(
      "--xds-cert-file and --xds-key-file go together",
    );
  });

  it("gantry server with a missing key file stops before any port opens, naming flag and file", {
    timeout: 120_000,
  }, async () => {
    const [xdsPort, apiPort, metricsPort] = await freePorts(3);
    const missing = join(files.dir, "missing.key");
    const result = await gantry(
      ...["server", "--insecure-api", "--host", "127.0.0.1", "--xds-port", String(xdsPort)],
      ...["--api-port", String(apiPort), "--metrics-port", String(metricsPort)],
      ...["--xds-tls-cert-file", files.certFile, "--xds-tls-key-file", missing],
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`--xds-tls-key-file ${missing}: no such file`);
    for (const port of [xdsPort, apiPort, metricsPort]) expect(await isListening(port)).toBe(false);
  });
});

describe("gantry ratelimit over mTLS, fed by a TLS xDS server", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  let ratelimit: ManagedProcess | undefined;
  let grpcPort: number;

  beforeAll(async () => {
    await store.apply(parseResources(shopResources(3), "fixture.yaml").resources.map(resourceToDocument));
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: "tls-feed-test-token-0123456789",
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      xdsTls: { certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile },
    });
  });
  afterAll(async () => {
    await ratelimit?.stop();
    await server?.stop();
  });

  const mtls = () =>
    credentials.createSsl(
      readFileSync(files.caFile),
      readFileSync(files.clientKeyFile),
      readFileSync(files.clientCertFile),
    );
  const ask = async (creds: ReturnType<typeof credentials.createSsl>) => {
    const client = createClient(RateLimitService, `127.0.0.1:${grpcPort}`, { credentials: creds });
    try {
      const response = await client.shouldRateLimit(
        {
          domain: "shop",
          descriptors: [
            {
              entries: [
                { key: "route", value: "account" },
                { key: "user", value: "x" },
              ],
            },
          ],
        },
        { timeoutMs: 2_000 },
      );
      return response.statuses[0]?.currentLimit?.requestsPerUnit;
    } finally {
      client.close();
    }
  };

  it("answers Envoy-like clients with a certificate and refuses those without", { timeout: 120_000 }, async () => {
    const [grpc, metricsPort] = await freePorts(2);
    grpcPort = grpc;
    ratelimit = await startProcess({
      name: "gantry ratelimit (TLS)",
      command: process.execPath,
      args: [
        ...[bin, "ratelimit", "--host", "127.0.0.1", "--grpc-port", String(grpcPort)],
        ...["--metrics-port", String(metricsPort)],
        ...["--tls-cert-file", files.certFile, "--tls-key-file", files.keyFile, "--tls-client-ca-file", files.caFile],
        ...["--xds-server", `127.0.0.1:${server.xdsPort}`, "--node-id", "ratelimit-tls-test"],
        ...[
          "--xds-ca-file",
          files.caFile,
          "--xds-cert-file",
          files.clientCertFile,
          "--xds-key-file",
          files.clientKeyFile,
        ],
      ],
      // Ready once the limits came over the TLS xDS stream and the TLS port answers with them.
      ready: async () => (await ask(mtls()).catch(() => undefined)) === 3,
      readyTimeoutMs: 90_000,
    });
    expect(server.proxies().some((p) => p.nodeId === "ratelimit-tls-test")).toBe(true);
    await expect(ask(credentials.createSsl(readFileSync(files.caFile)))).rejects.toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
    });
    await expect(ask(credentials.createInsecure())).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
  });
});
