import { readFileSync, writeFileSync } from "node:fs";
import { connect as connectHttp2 } from "node:http2";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, explain } from "../../src/cli/api-client.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { createClient, GrpcStatus } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { makeTlsFiles, type TlsTestFiles } from "../support/certs.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const token = "tls-test-token-0123456789";

describe("gantry server with TLS on xDS (mTLS) and the management API", () => {
  let files: TlsTestFiles;
  let server: ManagementServer;
  let tokenFile: string;

  beforeAll(async () => {
    files = await makeTlsFiles();
    tokenFile = join(files.dir, "token");
    writeFileSync(tokenFile, token);
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      xdsTls: { certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile },
      apiTls: { certFile: files.certFile, keyFile: files.keyFile },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("opens an ADS stream for the repo's xDS client that shows a client certificate", async () => {
    const client = new XdsClient({
      server: `127.0.0.1:${server.xdsPort}`,
      node: { id: "tls-test", cluster: "gantry-ratelimit", metadata: { role: "ratelimit" } },
      tls: { caFile: files.caFile, certFile: files.clientCertFile, keyFile: files.clientKeyFile },
    });
    client.subscribe(RateLimitConfigSchema, { onUpdate: () => undefined });
    client.start();
    try {
      // With nothing to publish the server answers nothing; its proxy status shows the stream.
      await waitFor(() => server.proxies().some((p) => p.nodeId === "tls-test"), { what: "an xDS stream over mTLS" });
    } finally {
      await client.stop();
    }
  });

  it("refuses an xDS client without a certificate, and a plaintext one", async () => {
    const address = `127.0.0.1:${server.xdsPort}`;
    for (const creds of [credentials.createSsl(readFileSync(files.caFile)), credentials.createInsecure()]) {
      const health = createClient(Health, address, { credentials: creds });
      try {
        await expect(health.check({ service: "" }, { timeoutMs: 5_000 })).rejects.toMatchObject({
          code: GrpcStatus.UNAVAILABLE,
        });
      } finally {
        health.close();
      }
    }
  });

  it("answers the CLI's client over HTTPS when it trusts the CA (--ca-file)", async () => {
    const url = `https://127.0.0.1:${server.apiPort}`;
    const listed = await connect({ server: url, tokenFile, caFile: files.caFile }).list({});
    expect(listed.revision).toBeGreaterThanOrEqual(0n);
    // Without the CA the client refuses the server's certificate and says where to give one.
    const failed = await connect({ server: url, tokenFile })
      .list({})
      .then(
        () => undefined,
        (err: unknown) => explain(err, url),
      );
    expect(failed?.message).toMatch(/certificate this client does not trust.*--ca-file/);
    expect(() => connect({ server: url.replace("https", "http"), caFile: files.caFile })).toThrow(
      "--ca-file needs an https:// --server",
    );
  });

  it("speaks HTTP/2 to a client whose ALPN says h2 and HTTP/1.1 to node's https client (no ALPN)", async () => {
    const ca = readFileSync(files.caFile);
    const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const session = connectHttp2(`https://localhost:${server.apiPort}`, { ca });
      session.on("error", reject);
      // With the token: the gate answers 401 before routing otherwise.
      const stream = session.request({ ":path": "/", authorization: `Bearer ${token}` });
      let body = "";
      let status = 0;
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.on("data", (chunk: Buffer) => {
        body += chunk;
      });
      stream.on("end", () => {
        session.close();
        resolve({ status, body });
      });
    });
    expect(h2).toMatchObject({ status: 404, body: expect.stringContaining("the management API lives under") });
    const h1 = await new Promise<{ status: number; protocol: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: server.apiPort,
          path: "/",
          ca,
          servername: "localhost",
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, protocol: `HTTP/${res.httpVersion}` }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(h1).toEqual({ status: 404, protocol: "HTTP/1.1" });
  });
});
